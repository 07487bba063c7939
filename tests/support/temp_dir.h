// A temporary directory removed (recursively) when the object goes out of scope.
#ifndef SYNCLINE_TESTS_SUPPORT_TEMP_DIR_H_
#define SYNCLINE_TESTS_SUPPORT_TEMP_DIR_H_

#include <filesystem>
#include <string>

namespace syncline::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace syncline::testing

#endif  // SYNCLINE_TESTS_SUPPORT_TEMP_DIR_H_
