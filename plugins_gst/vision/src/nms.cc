// Greedy non-maximum suppression on the host (and NmsCuda's stand-in in a build without CUDA).
//
// Algorithm (Nms):
//  1. Order the boxes by descending score; a stable sort keeps the lower index first on ties.
//  2. Walk that order: a box is kept unless its IoU with an already kept box (of the same class when
//     class ids are given) exceeds the threshold; stop once max_keep boxes are kept.
// IoU = intersection / union with areas (x1 - x0) * (y1 - y0) (no +1); a zero union gives IoU 0.
// nms_cuda.cu evaluates the same expression in the same order, so both keep the same boxes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "edgert/vision/decode.h"

namespace edgert::vision {

namespace {

float Iou(const float* a, const float* b) {
  const float iw = std::max(0.f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float ih = std::max(0.f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = iw * ih;
  const float area_a = (a[2] - a[0]) * (a[3] - a[1]);
  const float area_b = (b[2] - b[0]) * (b[3] - b[1]);
  const float uni = area_a + area_b - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

}  // namespace

std::vector<int> Nms(const std::vector<float>& boxes, const std::vector<float>& scores,
                     const std::vector<int>& class_ids, float iou_threshold, int max_keep) {
  const size_t n = std::min(scores.size(), boxes.size() / 4);
  const bool per_class = !class_ids.empty() && class_ids.size() >= n;
  // NaN scores sort last (a NaN in the comparison would break the sort's ordering contract).
  auto key = [&](int i) { return std::isnan(scores[i]) ? -std::numeric_limits<float>::infinity() : scores[i]; };
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) > key(b); });
  std::vector<int> kept;
  for (int i : order) {
    if (max_keep > 0 && kept.size() >= static_cast<size_t>(max_keep)) break;
    bool suppressed = false;
    for (int k : kept) {
      if (per_class && class_ids[i] != class_ids[k]) continue;
      if (Iou(&boxes[4 * static_cast<size_t>(k)], &boxes[4 * static_cast<size_t>(i)]) > iou_threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(i);
  }
  return kept;
}

// NmsCuda's mask: one 64-bit word per box and block of 64 boxes, then the count.
size_t NmsCudaScratchBytes(int n) {
  const size_t boxes = static_cast<size_t>(n > 0 ? n : 0);
  return boxes * ((boxes + 63) / 64) * sizeof(unsigned long long) + sizeof(int);
}

#ifndef EDGERT_HAVE_CUDA
Status NmsCuda(const float* /*boxes*/, const float* /*scores*/, const int* /*class_ids*/, int /*n*/,
               float /*iou_threshold*/, int* /*keep*/, int* /*num_kept*/, void* /*stream*/, void* /*scratch*/,
               size_t /*scratch_bytes*/) {
  return Unsupported("NmsCuda needs CUDA: this edgert was built without it (EDGERT_WITH_CUDA=OFF); use Nms", "NmsCuda");
}
#endif

}  // namespace edgert::vision
