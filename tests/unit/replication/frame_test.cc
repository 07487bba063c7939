#include "syncline/replication/frame.h"

#include <gtest/gtest.h>

#include "support/seed.h"

namespace syncline::replication {
namespace {

TEST(Frame, RoundTripsAnySplitOfTheStream) {
  testing::SeededRng rng;
  std::string stream;
  std::vector<std::string> payloads;
  for (int i = 0; i < 50; ++i) {
    payloads.push_back(rng.Bytes(300));
    AppendFrame(MessageType::kBatch, payloads.back(), &stream);
  }
  FrameDecoder decoder(1024);
  std::vector<Frame> frames;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t n = std::min<size_t>(rng.Uniform(0, 40), stream.size() - pos);
    ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(pos, n), &frames).ok());
    pos += n;
  }
  ASSERT_EQ(frames.size(), payloads.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].type, MessageType::kBatch);
    EXPECT_EQ(frames[i].payload, payloads[i]);
  }
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(Frame, RefusesALengthAboveTheCapBeforeBuffering) {
  std::string stream;
  AppendFrame(MessageType::kBatch, std::string(2000, 'x'), &stream);
  FrameDecoder decoder(1000);
  std::vector<Frame> frames;
  // Only the header is fed: the length alone is enough to refuse.
  Status s = decoder.Feed(std::string_view(stream).substr(0, kFrameHeaderBytes), &frames);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("2000"), std::string::npos) << s;
  EXPECT_NE(s.message().find("1000"), std::string::npos) << s;
  // Sticky: the stream is dead.
  EXPECT_FALSE(decoder.Feed("", &frames).ok());
  EXPECT_TRUE(frames.empty());
}

TEST(Frame, RefusesAFlippedByteAndAnUnknownType) {
  testing::SeededRng rng;
  std::string good;
  AppendFrame(MessageType::kAck, "hello world", &good);
  for (size_t i = 0; i < good.size(); ++i) {
    if (i < 4) continue;  // a changed length only changes how much is awaited
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ (1 + rng.Uniform(0, 254)));
    FrameDecoder decoder;
    std::vector<Frame> frames;
    Status s = decoder.Feed(bad, &frames);
    EXPECT_FALSE(s.ok()) << "byte " << i;
    EXPECT_TRUE(frames.empty()) << "byte " << i;
  }
  std::string unknown = good;
  unknown[4] = 99;
  FrameDecoder decoder;
  std::vector<Frame> frames;
  Status s = decoder.Feed(unknown, &frames);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("unknown message type 99"), std::string::npos) << s;
}

TEST(Frame, GarbageNeverCrashesOrAllocatesBeyondTheCap) {
  testing::SeededRng rng;
  for (int i = 0; i < 2000; ++i) {
    FrameDecoder decoder(4096);
    std::vector<Frame> frames;
    std::string garbage = rng.Bytes(200);
    (void)decoder.Feed(garbage, &frames);
    EXPECT_LE(decoder.buffered_bytes(), 4096u + kFrameHeaderBytes + 200u);
  }
}

}  // namespace
}  // namespace syncline::replication
