// EdgertMeta (plugins_gst/meta): registration, accessors, deep copies, the video scale transform
// (called directly and through videoscale in a GstHarness) and JSON.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "edgert/gst/edgert_meta.h"
#include "edgert/vision/results.h"

namespace {

using edgert::DataType;
using edgert::Tensor;
using edgert::vision::Classification;
using edgert::vision::Detection;
using edgert::vision::FrameResults;

class EdgertMetaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void TearDown() override {
    if (buffer_ != nullptr) gst_buffer_unref(buffer_);
  }

  // A buffer holding a meta with two classes, two detections, a 2x2 mask and two tensors
  // (float32 2x3 and int32 1).
  EdgertMeta* AddFilledMeta() {
    buffer_ = gst_buffer_new_allocate(nullptr, 16, nullptr);
    EdgertMeta* meta = gst_buffer_add_edgert_meta(buffer_);
    EXPECT_NE(meta, nullptr);
    meta->frame_number = 42;
    meta->inference_ms = 3.5;
    meta->stale = TRUE;
    FrameResults* r = edgert_meta_results(meta);
    r->classes = {Classification{7, 0.9f, "cat"}, Classification{3, 0.05f, "dog"}};
    r->detections = {Detection{10.f, 20.f, 110.f, 220.f, 1, 0.8f, "person"},
                     Detection{0.f, 4.f, 32.f, 36.f, 2, 0.6f, "car"}};
    r->mask.width = 2;
    r->mask.height = 2;
    r->mask.classes = {0, 1, 255, 1};
    r->tensors.emplace_back("logits", Tensor::FromVector<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3}));
    r->tensors.emplace_back("count", Tensor::FromVector<int32_t>({5}, {1}));
    r->inference_ms = 3.5;
    return meta;
  }

  GstBuffer* buffer_ = nullptr;
};

TEST_F(EdgertMetaTest, RegisteredWithVideoAndSizeTags) {
  EXPECT_NE(EDGERT_META_API_TYPE, G_TYPE_INVALID);
  EXPECT_STREQ(g_type_name(EDGERT_META_API_TYPE), "EdgertMetaAPI");
  EXPECT_TRUE(gst_meta_api_type_has_tag(EDGERT_META_API_TYPE, g_quark_from_string(GST_META_TAG_VIDEO_STR)));
  EXPECT_TRUE(gst_meta_api_type_has_tag(EDGERT_META_API_TYPE, g_quark_from_string(GST_META_TAG_VIDEO_SIZE_STR)));
  const gchar* const* tags = gst_meta_api_type_get_tags(EDGERT_META_API_TYPE);
  ASSERT_NE(tags, nullptr);
  EXPECT_EQ(g_strv_length(const_cast<gchar**>(tags)), 2u);
  ASSERT_NE(EDGERT_META_INFO, nullptr);
  EXPECT_EQ(EDGERT_META_INFO->api, EDGERT_META_API_TYPE);
  EXPECT_EQ(EDGERT_META_INFO->size, sizeof(EdgertMeta));
}

TEST_F(EdgertMetaTest, AddThenGetReturnsTheEmptyMeta) {
  buffer_ = gst_buffer_new();
  EXPECT_EQ(gst_buffer_get_edgert_meta(buffer_), nullptr);
  EdgertMeta* meta = gst_buffer_add_edgert_meta(buffer_);
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(gst_buffer_get_edgert_meta(buffer_), meta);
  EXPECT_EQ(meta->frame_number, 0u);
  EXPECT_EQ(meta->inference_ms, 0.0);
  EXPECT_FALSE(meta->stale);
  ASSERT_NE(edgert_meta_results(meta), nullptr);
  EXPECT_EQ(edgert_meta_num_classifications(meta), 0u);
  EXPECT_EQ(edgert_meta_num_detections(meta), 0u);
  EXPECT_EQ(edgert_meta_num_tensors(meta), 0u);
  EXPECT_TRUE(gst_buffer_remove_meta(buffer_, &meta->meta));
  EXPECT_EQ(gst_buffer_get_edgert_meta(buffer_), nullptr);
}

TEST_F(EdgertMetaTest, AccessorsPointIntoTheResults) {
  EdgertMeta* meta = AddFilledMeta();
  const FrameResults* r = edgert_meta_results(meta);
  ASSERT_EQ(edgert_meta_num_classifications(meta), 2u);
  EdgertClassification c;
  ASSERT_TRUE(edgert_meta_get_classification(meta, 1, &c));
  EXPECT_EQ(c.class_id, 3);
  EXPECT_FLOAT_EQ(c.score, 0.05f);
  EXPECT_STREQ(c.label, "dog");
  EXPECT_EQ(c.label, r->classes[1].label.c_str());

  ASSERT_EQ(edgert_meta_num_detections(meta), 2u);
  EdgertDetection d;
  ASSERT_TRUE(edgert_meta_get_detection(meta, 0, &d));
  EXPECT_EQ(d.x0, 10.f);
  EXPECT_EQ(d.y0, 20.f);
  EXPECT_EQ(d.x1, 110.f);
  EXPECT_EQ(d.y1, 220.f);
  EXPECT_EQ(d.class_id, 1);
  EXPECT_FLOAT_EQ(d.score, 0.8f);
  EXPECT_EQ(d.label, r->detections[0].label.c_str());

  ASSERT_EQ(edgert_meta_num_tensors(meta), 2u);
  EdgertTensor t;
  ASSERT_TRUE(edgert_meta_get_tensor(meta, 0, &t));
  EXPECT_STREQ(t.name, "logits");
  ASSERT_EQ(t.rank, 2u);
  EXPECT_EQ(t.dims[0], 2);
  EXPECT_EQ(t.dims[1], 3);
  EXPECT_EQ(t.data, r->tensors[0].second.data<float>());
  EXPECT_EQ(t.data[5], 6.f);
  // Not float32: cannot be returned as gfloat data.
  EXPECT_FALSE(edgert_meta_get_tensor(meta, 1, &t));
}

TEST_F(EdgertMetaTest, OutOfRangeAndNullReturnFalse) {
  EdgertMeta* meta = AddFilledMeta();
  EdgertClassification c;
  EdgertDetection d;
  EdgertTensor t;
  EXPECT_FALSE(edgert_meta_get_classification(meta, 2, &c));
  EXPECT_FALSE(edgert_meta_get_detection(meta, 2, &d));
  EXPECT_FALSE(edgert_meta_get_detection(meta, G_MAXUINT, &d));
  EXPECT_FALSE(edgert_meta_get_tensor(meta, 2, &t));
  EXPECT_FALSE(edgert_meta_get_detection(meta, 0, nullptr));
  EXPECT_FALSE(edgert_meta_get_detection(nullptr, 0, &d));
  EXPECT_EQ(edgert_meta_num_detections(nullptr), 0u);
  EXPECT_EQ(edgert_meta_num_classifications(nullptr), 0u);
  EXPECT_EQ(edgert_meta_num_tensors(nullptr), 0u);
  EXPECT_EQ(gst_buffer_get_edgert_meta(nullptr), nullptr);
}

TEST_F(EdgertMetaTest, BufferCopyIsDeep) {
  EdgertMeta* meta = AddFilledMeta();
  GstBuffer* copy = gst_buffer_copy(buffer_);
  EdgertMeta* cmeta = gst_buffer_get_edgert_meta(copy);
  ASSERT_NE(cmeta, nullptr);
  ASSERT_NE(cmeta, meta);
  EXPECT_NE(cmeta->results, meta->results);
  EXPECT_EQ(cmeta->frame_number, 42u);
  EXPECT_EQ(cmeta->inference_ms, 3.5);
  EXPECT_TRUE(cmeta->stale);
  ASSERT_EQ(edgert_meta_num_detections(cmeta), 2u);
  ASSERT_EQ(edgert_meta_num_tensors(cmeta), 2u);

  // Modify everything in the copy; the original must not move.
  FrameResults* cr = edgert_meta_results(cmeta);
  cr->detections[0].x0 = 99.f;
  cr->detections[0].label = "changed";
  cr->classes[0].score = 0.f;
  cr->mask.classes[0] = 9;
  cr->tensors[0].second.data<float>()[0] = -1.f;
  cr->detections.pop_back();

  const FrameResults* r = edgert_meta_results(meta);
  ASSERT_EQ(r->detections.size(), 2u);
  EXPECT_EQ(r->detections[0].x0, 10.f);
  EXPECT_EQ(r->detections[0].label, "person");
  EXPECT_FLOAT_EQ(r->classes[0].score, 0.9f);
  EXPECT_EQ(r->mask.classes[0], 0);
  EXPECT_EQ(r->tensors[0].second.data<float>()[0], 1.f);
  EdgertTensor t, ct;
  ASSERT_TRUE(edgert_meta_get_tensor(meta, 0, &t));
  ASSERT_TRUE(edgert_meta_get_tensor(cmeta, 0, &ct));
  EXPECT_NE(t.data, ct.data);
  gst_buffer_unref(copy);
  // The original survives the copy's destruction.
  EXPECT_EQ(edgert_meta_num_detections(gst_buffer_get_edgert_meta(buffer_)), 2u);
}

TEST_F(EdgertMetaTest, ScaleTransformScalesBoxes) {
  EdgertMeta* meta = AddFilledMeta();
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format(&in_info, GST_VIDEO_FORMAT_RGB, 320, 240);
  gst_video_info_set_format(&out_info, GST_VIDEO_FORMAT_RGB, 640, 120);
  GstVideoMetaTransform trans = {&in_info, &out_info};
  GstBuffer* dest = gst_buffer_new();
  const GstMetaInfo* info = meta->meta.info;
  ASSERT_TRUE(info->transform_func(dest, &meta->meta, buffer_, gst_video_meta_transform_scale_get_quark(), &trans));
  EdgertMeta* smeta = gst_buffer_get_edgert_meta(dest);
  ASSERT_NE(smeta, nullptr);
  EdgertDetection d;
  ASSERT_TRUE(edgert_meta_get_detection(smeta, 0, &d));
  EXPECT_FLOAT_EQ(d.x0, 20.f);
  EXPECT_FLOAT_EQ(d.y0, 10.f);
  EXPECT_FLOAT_EQ(d.x1, 220.f);
  EXPECT_FLOAT_EQ(d.y1, 110.f);
  EXPECT_STREQ(d.label, "person");
  ASSERT_TRUE(edgert_meta_get_detection(smeta, 1, &d));
  EXPECT_FLOAT_EQ(d.x1, 64.f);
  EXPECT_FLOAT_EQ(d.y1, 18.f);
  EXPECT_EQ(edgert_meta_num_classifications(smeta), 2u);
  EXPECT_EQ(smeta->frame_number, 42u);
  // The source is untouched.
  ASSERT_TRUE(edgert_meta_get_detection(meta, 0, &d));
  EXPECT_EQ(d.x0, 10.f);
  EXPECT_EQ(d.y1, 220.f);
  gst_buffer_unref(dest);

  // Transforms the meta does not know drop it.
  GstBuffer* other = gst_buffer_new();
  EXPECT_FALSE(info->transform_func(other, &meta->meta, buffer_, g_quark_from_string("edgert-unknown"), nullptr));
  EXPECT_EQ(gst_buffer_get_edgert_meta(other), nullptr);
  gst_buffer_unref(other);
}

// Through a real videoscale: the meta follows the frame and its boxes are scaled.
TEST_F(EdgertMetaTest, VideoscaleElementScalesBoxes) {
  GstElementFactory* factory = gst_element_factory_find("videoscale");
  if (factory == nullptr) GTEST_SKIP() << "videoscale (gst-plugins-base) is not installed";
  gst_object_unref(factory);
  GstHarness* h = gst_harness_new_parse("videoscale ! capsfilter caps=video/x-raw,width=160,height=480");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGBx,width=320,height=240,framerate=30/1");
  GstBuffer* in = gst_buffer_new_allocate(nullptr, 320 * 240 * 4, nullptr);
  gst_buffer_memset(in, 0, 0x40, 320 * 240 * 4);
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  edgert_meta_results(meta)->detections = {Detection{40.f, 30.f, 200.f, 120.f, 5, 0.7f, "bus"}};
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  EdgertMeta* ometa = gst_buffer_get_edgert_meta(out);
  ASSERT_NE(ometa, nullptr);
  EdgertDetection d;
  ASSERT_TRUE(edgert_meta_get_detection(ometa, 0, &d));
  EXPECT_FLOAT_EQ(d.x0, 20.f);
  EXPECT_FLOAT_EQ(d.y0, 60.f);
  EXPECT_FLOAT_EQ(d.x1, 100.f);
  EXPECT_FLOAT_EQ(d.y1, 240.f);
  EXPECT_STREQ(d.label, "bus");
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

// videoconvert keeps the frame's geometry: the meta passes with its boxes as they were.
TEST_F(EdgertMetaTest, VideoconvertKeepsTheMeta) {
  GstElementFactory* factory = gst_element_factory_find("videoconvert");
  if (factory == nullptr) GTEST_SKIP() << "videoconvert (gst-plugins-base) is not installed";
  gst_object_unref(factory);
  GstHarness* h = gst_harness_new_parse("videoconvert ! capsfilter caps=video/x-raw,format=BGRx");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGBx,width=64,height=48,framerate=30/1");
  GstBuffer* in = gst_buffer_new_allocate(nullptr, 64 * 48 * 4, nullptr);
  gst_buffer_memset(in, 0, 0x40, 64 * 48 * 4);
  EdgertMeta* meta = gst_buffer_add_edgert_meta(in);
  meta->frame_number = 7;
  edgert_meta_results(meta)->detections = {Detection{4.f, 6.f, 30.f, 40.f, 5, 0.7f, "bus"}};
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  EdgertMeta* ometa = gst_buffer_get_edgert_meta(out);
  ASSERT_NE(ometa, nullptr);
  EXPECT_EQ(ometa->frame_number, 7u);
  EdgertDetection d;
  ASSERT_TRUE(edgert_meta_get_detection(ometa, 0, &d));
  EXPECT_FLOAT_EQ(d.x0, 4.f);
  EXPECT_FLOAT_EQ(d.y0, 6.f);
  EXPECT_FLOAT_EQ(d.x1, 30.f);
  EXPECT_FLOAT_EQ(d.y1, 40.f);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

TEST_F(EdgertMetaTest, JsonHoldsTheResults) {
  EdgertMeta* meta = AddFilledMeta();
  gchar* json = edgert_meta_to_json(meta);
  ASSERT_NE(json, nullptr);
  EXPECT_STREQ(json,
               "{\"classes\":[{\"id\":7,\"label\":\"cat\",\"score\":0.9000},"
               "{\"id\":3,\"label\":\"dog\",\"score\":0.0500}],"
               "\"detections\":[{\"id\":1,\"label\":\"person\",\"score\":0.8000,"
               "\"box\":[10.0000,20.0000,110.0000,220.0000]},"
               "{\"id\":2,\"label\":\"car\",\"score\":0.6000,\"box\":[0.0000,4.0000,32.0000,36.0000]}],"
               "\"mask\":{\"width\":2,\"height\":2},\"inference_ms\":3.5000}");
  EXPECT_EQ(std::string(json), edgert::vision::ResultsToJson(*edgert_meta_results(meta)));
  g_free(json);
  EXPECT_EQ(edgert_meta_to_json(nullptr), nullptr);
}

}  // namespace
