#include "syncline/node/secret.h"

#include <fstream>
#include <iterator>

namespace syncline {

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read the secret file " + path);
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  // Two bytes of slack for a trailing "\r\n".
  if (size < 0 || static_cast<uint64_t>(size) > kMaxSecretBytes + 2) {
    return Status::InvalidArgument("secret file " + path + " holds more than " + std::to_string(kMaxSecretBytes) +
                                   " bytes");
  }
  in.seekg(0);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::InvalidArgument("cannot read the secret file " + path);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.size() < kMinSecretBytes) {
    return Status::InvalidArgument("secret file " + path + " holds fewer than " + std::to_string(kMinSecretBytes) +
                                   " bytes");
  }
  if (s.size() > kMaxSecretBytes) {
    return Status::InvalidArgument("secret file " + path + " holds more than " + std::to_string(kMaxSecretBytes) +
                                   " bytes");
  }
  return s;
}

}  // namespace syncline
