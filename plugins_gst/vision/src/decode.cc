// Output decoders: network output tensors -> FrameResults in frame coordinates.
//
// Algorithm (Decode):
//  1. Clear the results' classes, detections and mask (tensors and inference_ms belong to the
//     caller) and check that every output the decoder reads is a host float32 tensor of the
//     expected shape; an error names the output and the shape that was expected.
//  2. Classifiers (softmax-topk, topk): scores of the [C] vector (a numerically stable softmax
//     first for softmax-topk: exp(x - max) / sum), keep those >= threshold, highest first (lower
//     class id first on ties), at most top_k.
//  3. Detectors (yolov8, yolov5, ssd): per anchor the best class and its score; anchors below the
//     threshold are skipped; boxes go from network pixels (SSD: optionally normalized, optionally
//     cx,cy,w,h) to frame pixels with InputTransform::ToFrameX/Y, are clipped to the frame and
//     dropped when nothing of them is left inside it. Then greedy NMS per class (all classes
//     together with class_agnostic_nms) keeps at most max_detections, highest score first.
//  4. DBNet: binary mask (prob > binary_threshold), 8-connected components by breadth-first
//     search, per component the mean probability (>= box_threshold kept) and the axis-aligned
//     pixel box [xmin, xmax+1) x [ymin, ymax+1) in map pixels; boxes whose shorter side is below
//     min_size are dropped; the others are expanded on every side by d = area * unclip_ratio /
//     perimeter of that rectangle (PaddleOCR's "fast" box approximation of the polygon unclip),
//     scaled from the map grid to the network input, mapped to the frame and clipped. Components are
//     disjoint, so no NMS runs (as in PaddleOCR); the max_detections highest-scoring boxes are kept.
//  5. argmax: [1,C,H,W] -> per pixel the first class of highest score (C <= 255);
//     [1,1,H,W] -> class 0 where the value > threshold, else 255. The mask stays on the output grid.
#include "edgert/vision/decode.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace edgert::vision {

namespace {

std::string OutputName(const std::vector<std::string>& names, size_t index) {
  if (index < names.size() && !names[index].empty()) return names[index];
  return "output " + std::to_string(index);
}

std::string Quoted(const std::string& name) { return "'" + name + "'"; }

Status ShapeError(const std::string& name, const Tensor& t, DecoderKind kind, const std::string& expected) {
  return InvalidArgument("output " + Quoted(name) + " has shape [" + ShapeToString(t.shape()) + "] but the " +
                             DecoderKindName(kind) + " decoder expects " + expected,
                         name);
}

Status CheckFloatHost(const std::string& name, const Tensor& t, DecoderKind kind) {
  if (!t.defined() || t.raw() == nullptr) {
    return InvalidArgument("output " + Quoted(name) + " is empty; the " + std::string(DecoderKindName(kind)) +
                               " decoder needs its host values",
                           name);
  }
  if (t.dtype() != DataType::kFloat32) {
    return InvalidArgument("output " + Quoted(name) + " is " + DataTypeName(t.dtype()) + " but the " +
                               DecoderKindName(kind) + " decoder expects float32",
                           name);
  }
  return Status::Ok();
}

// Output `index` (which must exist), checked to be float32.
Status GetOutput(const ModelConfig& config, const std::vector<Tensor>& outputs, const std::vector<std::string>& names,
                 size_t index, const Tensor** out, std::string* name) {
  const DecoderKind kind = config.decoder.kind;
  if (index >= outputs.size()) {
    return InvalidArgument("the " + std::string(DecoderKindName(kind)) + " decoder needs output " +
                               std::to_string(index) + " but the network has " + std::to_string(outputs.size()) +
                               " output(s)",
                           OutputName(names, index));
  }
  *name = OutputName(names, index);
  *out = &outputs[index];
  return CheckFloatHost(*name, **out, kind);
}

// The output called `wanted` when it is not empty, else output `fallback`.
Status GetNamedOutput(const ModelConfig& config, const std::vector<Tensor>& outputs,
                      const std::vector<std::string>& names, const std::string& wanted, size_t fallback,
                      const std::string& key, const Tensor** out, std::string* name) {
  if (wanted.empty()) return GetOutput(config, outputs, names, fallback, out, name);
  for (size_t i = 0; i < names.size() && i < outputs.size(); ++i) {
    if (names[i] == wanted) return GetOutput(config, outputs, names, i, out, name);
  }
  std::string available;
  for (size_t i = 0; i < names.size(); ++i) available += (i ? ", " : "") + Quoted(names[i]);
  return NotFound("decoder " + key + " names output " + Quoted(wanted) + " but the network's outputs are " +
                      (available.empty() ? std::string("unnamed") : available),
                  wanted);
}

// ---- classifiers ---------------------------------------------------------------------------------

Status DecodeClassifier(const ModelConfig& config, const std::vector<Tensor>& outputs,
                        const std::vector<std::string>& names, FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  const Tensor* t = nullptr;
  std::string name;
  EDGERT_RETURN_IF_ERROR(GetOutput(config, outputs, names, 0, &t, &name));
  const Shape& s = t->shape();
  const bool ok_shape = (s.size() == 1 && s[0] >= 1) || (s.size() == 2 && s[0] == 1 && s[1] >= 1) ||
                        (s.size() == 4 && s[0] == 1 && s[1] >= 1 && s[2] == 1 && s[3] == 1);
  if (!ok_shape) return ShapeError(name, *t, dc.kind, "[1,C], [C] or [1,C,1,1] class scores");
  const int64_t c = s.size() == 1 ? s[0] : s[1];
  const float* x = t->data<float>();

  std::vector<float> scores(x, x + c);
  if (dc.kind == DecoderKind::kSoftmaxTopK) {
    const float max_value = *std::max_element(scores.begin(), scores.end());
    double sum = 0.0;
    for (float& v : scores) {
      v = std::exp(v - max_value);
      sum += v;
    }
    for (float& v : scores) v = static_cast<float>(v / sum);
  }
  std::vector<int> ids;
  for (int64_t i = 0; i < c; ++i) {
    if (scores[i] >= dc.threshold) ids.push_back(static_cast<int>(i));
  }
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  if (dc.top_k > 0 && ids.size() > static_cast<size_t>(dc.top_k)) ids.resize(static_cast<size_t>(dc.top_k));
  for (int id : ids) results->classes.push_back(Classification{id, scores[id], config.Label(id)});
  return Status::Ok();
}

// ---- detectors -----------------------------------------------------------------------------------

struct Candidate {
  float x0, y0, x1, y1;  // frame pixels, clipped
  int class_id;
  float score;
};

Status CheckTransform(const InputTransform& tr, DecoderKind kind) {
  if (tr.frame_width <= 0 || tr.frame_height <= 0 || !(tr.scale_x > 0.f) || !(tr.scale_y > 0.f)) {
    return InvalidArgument("the " + std::string(DecoderKindName(kind)) +
                               " decoder needs the input transform of the "
                               "frame (frame " +
                               std::to_string(tr.frame_width) + "x" + std::to_string(tr.frame_height) + ", scale " +
                               std::to_string(tr.scale_x) + "x" + std::to_string(tr.scale_y) +
                               "); preprocessing sets it",
                           "transform");
  }
  return Status::Ok();
}

// Maps a box in network pixels to the frame and clips it; false when nothing of it is inside.
bool ToFrameBox(const InputTransform& tr, float nx0, float ny0, float nx1, float ny1, Candidate* c) {
  const float fw = static_cast<float>(tr.frame_width), fh = static_cast<float>(tr.frame_height);
  c->x0 = std::clamp(tr.ToFrameX(nx0), 0.f, fw);
  c->x1 = std::clamp(tr.ToFrameX(nx1), 0.f, fw);
  c->y0 = std::clamp(tr.ToFrameY(ny0), 0.f, fh);
  c->y1 = std::clamp(tr.ToFrameY(ny1), 0.f, fh);
  return c->x1 > c->x0 && c->y1 > c->y0;  // also false for NaN coordinates
}

// NMS (unless `skip_nms`) and max_detections, highest score first.
void EmitDetections(const ModelConfig& config, const std::vector<Candidate>& cands, bool skip_nms,
                    FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  std::vector<int> kept;
  if (skip_nms) {
    kept.resize(cands.size());
    std::iota(kept.begin(), kept.end(), 0);
    std::stable_sort(kept.begin(), kept.end(), [&](int a, int b) { return cands[a].score > cands[b].score; });
    if (dc.max_detections > 0 && kept.size() > static_cast<size_t>(dc.max_detections)) {
      kept.resize(static_cast<size_t>(dc.max_detections));
    }
  } else {
    std::vector<float> boxes, scores;
    std::vector<int> class_ids;
    boxes.reserve(cands.size() * 4);
    scores.reserve(cands.size());
    for (const Candidate& c : cands) {
      boxes.insert(boxes.end(), {c.x0, c.y0, c.x1, c.y1});
      scores.push_back(c.score);
      if (!dc.class_agnostic_nms) class_ids.push_back(c.class_id);
    }
    kept = Nms(boxes, scores, class_ids, dc.nms_iou, dc.max_detections);
  }
  for (int k : kept) {
    const Candidate& c = cands[k];
    results->detections.push_back(Detection{c.x0, c.y0, c.x1, c.y1, c.class_id, c.score, config.Label(c.class_id)});
  }
}

// Best class of `count` scores at `p` with `stride` between them: (index, score), first max wins.
std::pair<int, float> BestClass(const float* p, int64_t count, int64_t stride) {
  int best = 0;
  float best_score = p[0];
  for (int64_t k = 1; k < count; ++k) {
    const float v = p[k * stride];
    if (v > best_score) {
      best_score = v;
      best = static_cast<int>(k);
    }
  }
  return {best, best_score};
}

Status DecodeYoloV8(const ModelConfig& config, const std::vector<Tensor>& outputs,
                    const std::vector<std::string>& names, const InputTransform& tr, FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  const Tensor* t = nullptr;
  std::string name;
  EDGERT_RETURN_IF_ERROR(GetOutput(config, outputs, names, 0, &t, &name));
  const Shape& s = t->shape();
  const int64_t labels = static_cast<int64_t>(config.labels.size());
  const std::string expected = labels > 0 ? "[1,4+C,N] or [1,N,4+C] with C = " + std::to_string(labels) + " labels"
                                          : "[1,4+C,N] or [1,N,4+C] (C >= 1, the smaller dimension is 4+C)";
  if (s.size() != 3 || s[0] != 1 || s[1] < 1 || s[2] < 1) return ShapeError(name, *t, dc.kind, expected);
  // 1. Layout: which dimension holds the 4+C channels.
  bool channels_first;
  if (labels > 0) {
    if (s[1] == 4 + labels) {
      channels_first = true;
    } else if (s[2] == 4 + labels) {
      channels_first = false;
    } else {
      return ShapeError(name, *t, dc.kind, expected);
    }
  } else {
    channels_first = s[1] <= s[2];
    if (std::min(s[1], s[2]) < 5) return ShapeError(name, *t, dc.kind, expected);
  }
  EDGERT_RETURN_IF_ERROR(CheckTransform(tr, dc.kind));
  const int64_t channels = channels_first ? s[1] : s[2];
  const int64_t anchors = channels_first ? s[2] : s[1];
  const int64_t num_classes = channels - 4;
  // Element (anchor a, channel k).
  const int64_t a_stride = channels_first ? 1 : channels;
  const int64_t k_stride = channels_first ? anchors : 1;
  const float* x = t->data<float>();

  // 2. Best class per anchor. Channels-first walks the class rows in memory order (one pass per
  // class over all anchors) instead of striding across rows for every anchor.
  std::vector<int> best_class(static_cast<size_t>(anchors), 0);
  std::vector<float> best_score(static_cast<size_t>(anchors));
  if (channels_first) {
    std::copy(x + 4 * anchors, x + 5 * anchors, best_score.begin());
    for (int64_t k = 1; k < num_classes; ++k) {
      const float* row = x + (4 + k) * anchors;
      for (int64_t a = 0; a < anchors; ++a) {
        if (row[a] > best_score[a]) {
          best_score[a] = row[a];
          best_class[a] = static_cast<int>(k);
        }
      }
    }
  } else {
    for (int64_t a = 0; a < anchors; ++a) {
      std::tie(best_class[a], best_score[a]) = BestClass(x + a * channels + 4, num_classes, 1);
    }
  }
  // 3. Boxes of the anchors above the threshold.
  std::vector<Candidate> cands;
  for (int64_t a = 0; a < anchors; ++a) {
    const float* p = x + a * a_stride;
    const int cls = best_class[a];
    const float score = best_score[a];
    if (!(score >= dc.threshold)) continue;
    const float cx = p[0], cy = p[k_stride], w = p[2 * k_stride], h = p[3 * k_stride];
    Candidate c{};
    if (!ToFrameBox(tr, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, &c)) continue;
    c.class_id = cls;
    c.score = score;
    cands.push_back(c);
  }
  EmitDetections(config, cands, false, results);
  return Status::Ok();
}

Status DecodeYoloV5(const ModelConfig& config, const std::vector<Tensor>& outputs,
                    const std::vector<std::string>& names, const InputTransform& tr, FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  const Tensor* t = nullptr;
  std::string name;
  EDGERT_RETURN_IF_ERROR(GetOutput(config, outputs, names, 0, &t, &name));
  const Shape& s = t->shape();
  const int64_t labels = static_cast<int64_t>(config.labels.size());
  const std::string expected =
      labels > 0 ? "[1,N,5+C] with C = " + std::to_string(labels) + " labels" : "[1,N,5+C] (C >= 1)";
  if (s.size() != 3 || s[0] != 1 || s[1] < 1 || s[2] < 6 || (labels > 0 && s[2] != 5 + labels)) {
    return ShapeError(name, *t, dc.kind, expected);
  }
  EDGERT_RETURN_IF_ERROR(CheckTransform(tr, dc.kind));
  const int64_t anchors = s[1], channels = s[2];
  const float* x = t->data<float>();
  std::vector<Candidate> cands;
  for (int64_t a = 0; a < anchors; ++a) {
    const float* p = x + a * channels;
    const float objectness = p[4];
    const auto [cls, cls_score] = BestClass(p + 5, channels - 5, 1);
    const float score = objectness * cls_score;
    if (!(score >= dc.threshold)) continue;
    Candidate c{};
    if (!ToFrameBox(tr, p[0] - p[2] / 2, p[1] - p[3] / 2, p[0] + p[2] / 2, p[1] + p[3] / 2, &c)) continue;
    c.class_id = cls;
    c.score = score;
    cands.push_back(c);
  }
  EmitDetections(config, cands, false, results);
  return Status::Ok();
}

Status DecodeSsd(const ModelConfig& config, const std::vector<Tensor>& outputs, const std::vector<std::string>& names,
                 const InputTransform& tr, FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  const Tensor* boxes = nullptr;
  const Tensor* scores = nullptr;
  std::string boxes_name, scores_name;
  EDGERT_RETURN_IF_ERROR(GetNamedOutput(config, outputs, names, dc.boxes_output, 0, "boxes", &boxes, &boxes_name));
  EDGERT_RETURN_IF_ERROR(GetNamedOutput(config, outputs, names, dc.scores_output, 1, "scores", &scores, &scores_name));
  const Shape& bs = boxes->shape();
  const Shape& ss = scores->shape();
  if (bs.size() != 3 || bs[0] != 1 || bs[1] < 1 || bs[2] != 4) {
    return ShapeError(boxes_name, *boxes, dc.kind, "boxes [1,N,4]");
  }
  const int64_t anchors = bs[1];
  const int64_t first_class = dc.scores_have_background ? 1 : 0;
  if (ss.size() != 3 || ss[0] != 1 || ss[1] != anchors || ss[2] < first_class + 1) {
    return ShapeError(scores_name, *scores, dc.kind,
                      "scores [1," + std::to_string(anchors) + ",C] (N from boxes '" + boxes_name +
                          "', C >= " + std::to_string(first_class + 1) + ")");
  }
  EDGERT_RETURN_IF_ERROR(CheckTransform(tr, dc.kind));
  const int64_t num_classes = ss[2];
  // Normalized boxes are fractions of the network input.
  const float sx =
      dc.boxes_normalized ? static_cast<float>(tr.input_width > 0 ? tr.input_width : config.input.width) : 1.f;
  const float sy =
      dc.boxes_normalized ? static_cast<float>(tr.input_height > 0 ? tr.input_height : config.input.height) : 1.f;
  const float* b = boxes->data<float>();
  const float* sc = scores->data<float>();
  std::vector<Candidate> cands;
  for (int64_t a = 0; a < anchors; ++a) {
    const auto [rel, score] = BestClass(sc + a * num_classes + first_class, num_classes - first_class, 1);
    if (!(score >= dc.threshold)) continue;
    const float* p = b + a * 4;
    float x0 = p[0], y0 = p[1], x1 = p[2], y1 = p[3];
    if (dc.boxes_cxcywh) {
      x0 = p[0] - p[2] / 2;
      y0 = p[1] - p[3] / 2;
      x1 = p[0] + p[2] / 2;
      y1 = p[1] + p[3] / 2;
    }
    Candidate c{};
    if (!ToFrameBox(tr, x0 * sx, y0 * sy, x1 * sx, y1 * sy, &c)) continue;
    c.class_id = rel + static_cast<int>(first_class);
    c.score = score;
    cands.push_back(c);
  }
  EmitDetections(config, cands, false, results);
  return Status::Ok();
}

Status DecodeDbNet(const ModelConfig& config, const std::vector<Tensor>& outputs, const std::vector<std::string>& names,
                   const InputTransform& tr, FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  const Tensor* t = nullptr;
  std::string name;
  EDGERT_RETURN_IF_ERROR(GetOutput(config, outputs, names, 0, &t, &name));
  const Shape& s = t->shape();
  if (s.size() != 4 || s[0] != 1 || s[1] != 1 || s[2] < 1 || s[3] < 1) {
    return ShapeError(name, *t, dc.kind, "a probability map [1,1,H,W]");
  }
  EDGERT_RETURN_IF_ERROR(CheckTransform(tr, dc.kind));
  const int64_t h = s[2], w = s[3];
  const float* prob = t->data<float>();
  // Map pixels -> network input pixels (the map may be smaller than the input).
  const float to_net_x = tr.input_width > 0 ? static_cast<float>(tr.input_width) / static_cast<float>(w) : 1.f;
  const float to_net_y = tr.input_height > 0 ? static_cast<float>(tr.input_height) / static_cast<float>(h) : 1.f;

  std::vector<uint8_t> visited(static_cast<size_t>(h * w), 0);
  std::vector<int64_t> queue;
  std::vector<Candidate> cands;
  const std::string label = config.labels.empty() ? std::string("text") : config.labels[0];
  for (int64_t start = 0; start < h * w; ++start) {
    if (visited[start] || !(prob[start] > dc.binary_threshold)) continue;
    // 1. Breadth-first search over the 8-connected component containing `start`.
    queue.clear();
    queue.push_back(start);
    visited[start] = 1;
    int64_t xmin = w, ymin = h, xmax = -1, ymax = -1;
    double sum = 0.0;
    for (size_t head = 0; head < queue.size(); ++head) {
      const int64_t idx = queue[head];
      const int64_t y = idx / w, x = idx % w;
      sum += prob[idx];
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
      for (int64_t dy = -1; dy <= 1; ++dy) {
        const int64_t ny = y + dy;
        if (ny < 0 || ny >= h) continue;
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t nx = x + dx;
          if (nx < 0 || nx >= w) continue;
          const int64_t n = ny * w + nx;
          if (visited[n] || !(prob[n] > dc.binary_threshold)) continue;
          visited[n] = 1;
          queue.push_back(n);
        }
      }
    }
    // 2. Score, size, unclip.
    const float score = static_cast<float>(sum / static_cast<double>(queue.size()));
    if (score < dc.box_threshold) continue;
    const float bw = static_cast<float>(xmax + 1 - xmin), bh = static_cast<float>(ymax + 1 - ymin);
    if (std::min(bw, bh) < static_cast<float>(dc.min_size)) continue;
    const float d = bw * bh * dc.unclip_ratio / (2.f * (bw + bh));
    const float mx0 = static_cast<float>(xmin) - d, my0 = static_cast<float>(ymin) - d;
    const float mx1 = static_cast<float>(xmax + 1) + d, my1 = static_cast<float>(ymax + 1) + d;
    // 3. Map grid -> network input -> frame.
    Candidate c{};
    if (!ToFrameBox(tr, mx0 * to_net_x, my0 * to_net_y, mx1 * to_net_x, my1 * to_net_y, &c)) continue;
    c.class_id = 0;
    c.score = score;
    cands.push_back(c);
  }
  EmitDetections(config, cands, true, results);
  for (Detection& d : results->detections) d.label = label;
  return Status::Ok();
}

Status DecodeArgMax(const ModelConfig& config, const std::vector<Tensor>& outputs,
                    const std::vector<std::string>& names, FrameResults* results) {
  const DecoderConfig& dc = config.decoder;
  const Tensor* t = nullptr;
  std::string name;
  EDGERT_RETURN_IF_ERROR(GetOutput(config, outputs, names, 0, &t, &name));
  const Shape& s = t->shape();
  if (s.size() != 4 || s[0] != 1 || s[1] < 1 || s[2] < 1 || s[3] < 1) {
    return ShapeError(name, *t, dc.kind, "[1,C,H,W] class scores or a [1,1,H,W] map");
  }
  if (s[1] > 255) {
    return Unsupported("output " + Quoted(name) + " has " + std::to_string(s[1]) +
                           " classes; the argmax decoder's mask holds at most 255 (255 means none)",
                       name);
  }
  const int64_t c = s[1], h = s[2], w = s[3], plane = h * w;
  const float* x = t->data<float>();
  SegmentationMask& mask = results->mask;
  mask.width = static_cast<int>(w);
  mask.height = static_cast<int>(h);
  mask.classes.assign(static_cast<size_t>(plane), 255);
  if (c == 1) {
    for (int64_t i = 0; i < plane; ++i) mask.classes[i] = x[i] > dc.threshold ? 0 : 255;
    return Status::Ok();
  }
  for (int64_t i = 0; i < plane; ++i) {
    const auto [best, score] = BestClass(x + i, c, plane);
    (void)score;
    mask.classes[i] = static_cast<uint8_t>(best);
  }
  return Status::Ok();
}

}  // namespace

Status Decode(const ModelConfig& config, const std::vector<Tensor>& outputs,
              const std::vector<std::string>& output_names, const InputTransform& transform, FrameResults* results) {
  if (results == nullptr) return InvalidArgument("Decode needs a FrameResults to fill", "results");
  results->classes.clear();
  results->detections.clear();
  results->mask = SegmentationMask{};
  switch (config.decoder.kind) {
    case DecoderKind::kNone:
      return InvalidArgument("the model config has no decoder (decoder.kind is none)", "decoder.kind");
    case DecoderKind::kSoftmaxTopK:
    case DecoderKind::kTopK:
      return DecodeClassifier(config, outputs, output_names, results);
    case DecoderKind::kYoloV8:
      return DecodeYoloV8(config, outputs, output_names, transform, results);
    case DecoderKind::kYoloV5:
      return DecodeYoloV5(config, outputs, output_names, transform, results);
    case DecoderKind::kSsd:
      return DecodeSsd(config, outputs, output_names, transform, results);
    case DecoderKind::kDbNet:
      return DecodeDbNet(config, outputs, output_names, transform, results);
    case DecoderKind::kArgMax:
      return DecodeArgMax(config, outputs, output_names, results);
  }
  return InvalidArgument("unknown decoder kind " + std::to_string(static_cast<int>(config.decoder.kind)),
                         "decoder.kind");
}

}  // namespace edgert::vision
