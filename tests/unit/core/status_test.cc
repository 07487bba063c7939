#include "syncline/core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace syncline {
namespace {

Status FailsWith(StatusCode code) {
  if (code == StatusCode::kOk) return Status::Ok();
  return Status(code, "inner failure");
}

Status Propagates(StatusCode code, bool* reached_end) {
  SYNCLINE_RETURN_IF_ERROR(FailsWith(code));
  *reached_end = true;
  return Status::Ok();
}

Result<std::unique_ptr<int>> MakeInt(int v) {
  if (v < 0) return Status::InvalidArgument("negative value " + std::to_string(v));
  return std::make_unique<int>(v);
}

Result<int> Doubled(int v) {
  SYNCLINE_ASSIGN_OR_RETURN(std::unique_ptr<int> p, MakeInt(v));
  return *p * 2;
}

TEST(StatusTest, OkAndErrors) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status c = Status::Corruption("checksum mismatch in table 'data' key 'k'");
  EXPECT_FALSE(c.ok());
  EXPECT_TRUE(c.IsCorruption());
  EXPECT_EQ(c.code(), StatusCode::kCorruption);
  EXPECT_EQ(c.ToString(), "Corruption: checksum mismatch in table 'data' key 'k'");
  EXPECT_EQ(c.WithContext("reading users/1").message(),
            "reading users/1: checksum mismatch in table 'data' key 'k'");
  EXPECT_TRUE(Status::Ok().WithContext("anything").ok());
}

TEST(StatusTest, ReturnIfErrorStopsAtTheFirstError) {
  bool reached = false;
  EXPECT_EQ(Propagates(StatusCode::kIOError, &reached).code(), StatusCode::kIOError);
  EXPECT_FALSE(reached);
  EXPECT_TRUE(Propagates(StatusCode::kOk, &reached).ok());
  EXPECT_TRUE(reached);
}

TEST(StatusTest, AssignOrReturnMovesValuesAndErrors) {
  auto r = Doubled(21);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  auto e = Doubled(-1);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "negative value -1");
  EXPECT_EQ(e.value_or(7), 7);
}

TEST(StatusTest, EveryCodeHasAName) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    EXPECT_NE(StatusCodeName(static_cast<StatusCode>(c)), "Unknown") << c;
  }
}

}  // namespace
}  // namespace syncline
