// Calibrator names and the histogram thresholds (percentile and entropy) of calibration.h.
//
// Entropy, per candidate i (bins kept) in [levels, N]:
//   1. P[k] = counts[k] for k < i, plus every count at or beyond i added to P[i-1] (the outliers
//      clip to the threshold);
//   2. Q: counts[0, i) (without the outliers) summed in `levels` groups of m = i / levels bins (the
//      last group also takes the i % levels remaining bins), each group's sum spread evenly over its
//      bins whose count is non-zero (zero bins stay zero);
//   3. both smoothed so KL stays finite: each normalised to sum 1, eps = 1e-4 given to every zero
//      bin, normalised again (MXNet's _smooth_distribution takes eps from the non-zero bins instead,
//      which goes negative when a bin is smaller than the eps it must give);
//   4. KL(P || Q) = sum_k P[k] log(P[k] / Q[k]).
// The smallest KL wins, the first on ties; the threshold is i * bin_width.
#include <cmath>
#include <limits>

#include "edgert/calibration.h"

namespace edgert {

const char* CalibratorName(CalibratorKind kind) {
  switch (kind) {
    case CalibratorKind::kEntropy:
      return "entropy";
    case CalibratorKind::kPercentile:
      return "percentile";
    case CalibratorKind::kMinMax:
      return "minmax";
  }
  return "unknown";
}

const char* CalibratorAlgorithm(CalibratorKind kind) {
  switch (kind) {
    case CalibratorKind::kEntropy:
      return "EntropyCalibration2";
    case CalibratorKind::kPercentile:
      return "PercentileCalibration";
    case CalibratorKind::kMinMax:
      return "MinMaxCalibration";
  }
  return "unknown";
}

StatusOr<CalibratorKind> ParseCalibrator(const std::string& text) {
  if (text == "entropy") return CalibratorKind::kEntropy;
  if (text == "percentile") return CalibratorKind::kPercentile;
  if (text == "minmax") return CalibratorKind::kMinMax;
  return InvalidArgument("unknown calibrator '" + text + "' (expected entropy, percentile or minmax)", text);
}

double PercentileThreshold(const AbsHistogram& hist, double percentile) {
  double total = 0;
  for (double c : hist.counts) total += c;
  if (total <= 0) return 0;
  const double target = total * percentile / 100.0;
  double cumulative = 0;
  for (size_t k = 0; k < hist.counts.size(); ++k) {
    cumulative += hist.counts[k];
    if (cumulative >= target) return static_cast<double>(k + 1) * hist.bin_width;
  }
  return static_cast<double>(hist.counts.size()) * hist.bin_width;
}

namespace {

// Step 3: eps onto every zero bin, then normalise to sum 1; false when the distribution is all zero.
bool NormalizeSmooth(std::vector<double>& d) {
  constexpr double kEps = 1e-4;
  double sum = 0;
  for (double v : d) sum += v;
  if (sum <= 0) return false;
  double smoothed = 0;
  for (double& v : d) {
    v = v == 0 ? kEps : v / sum;
    smoothed += v;
  }
  for (double& v : d) v /= smoothed;
  return true;
}

}  // namespace

double EntropyDivergence(const AbsHistogram& hist, int bins_kept, int levels) {
  const std::vector<double>& counts = hist.counts;
  const size_t i = static_cast<size_t>(bins_kept);
  if (i == 0 || i > counts.size() || levels <= 0 || i < static_cast<size_t>(levels)) {
    return std::numeric_limits<double>::infinity();
  }
  std::vector<double> p(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(i));
  for (size_t k = i; k < counts.size(); ++k) p[i - 1] += counts[k];
  std::vector<double> q(i, 0.0);
  const size_t m = i / static_cast<size_t>(levels);
  for (size_t j = 0; j < static_cast<size_t>(levels); ++j) {
    const size_t begin = j * m;
    const size_t end = j + 1 == static_cast<size_t>(levels) ? i : begin + m;
    double sum = 0;
    size_t nonzero = 0;
    for (size_t k = begin; k < end; ++k) {
      sum += counts[k];
      if (counts[k] != 0) ++nonzero;
    }
    if (nonzero == 0) continue;
    for (size_t k = begin; k < end; ++k) {
      if (counts[k] != 0) q[k] = sum / static_cast<double>(nonzero);
    }
  }
  if (!NormalizeSmooth(p) || !NormalizeSmooth(q)) return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (size_t k = 0; k < i; ++k) kl += p[k] * std::log(p[k] / q[k]);
  return kl;
}

double EntropyThreshold(const AbsHistogram& hist, int levels) {
  const int n = static_cast<int>(hist.counts.size());
  double total = 0;
  for (double c : hist.counts) total += c;
  if (total <= 0 || n == 0) return 0;
  if (n <= levels) return static_cast<double>(n) * hist.bin_width;
  int best = n;
  double best_kl = std::numeric_limits<double>::infinity();
  for (int i = levels; i <= n; ++i) {
    const double kl = EntropyDivergence(hist, i, levels);
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  return static_cast<double>(best) * hist.bin_width;
}

}  // namespace edgert
