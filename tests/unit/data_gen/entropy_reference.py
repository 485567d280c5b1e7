"""numpy reference of edgert's entropy calibrator (calibration.h, thresholds.cc), written from the
algorithm's description, for calibration_test.cc: reads a histogram of |x| (HIST.npy, float64
counts), prints the number of bins kept (the threshold is that times the bin width) and the KL
divergence of a few candidates."""
import sys

import numpy as np


def smooth(d, eps=1e-4):
    d = d / d.sum()
    d = np.where(d == 0, eps, d)
    return d / d.sum()


def divergence(hist, i, levels=128):
    p = hist[:i].astype(np.float64).copy()
    p[i - 1] += hist[i:].sum()
    kept = hist[:i].astype(np.float64)
    m = i // levels
    q = np.zeros(i)
    for j in range(levels):
        lo = j * m
        hi = i if j == levels - 1 else lo + m
        seg = kept[lo:hi]
        nz = seg != 0
        if nz.any():
            q[lo:hi][nz] = seg.sum() / nz.sum()
    p, q = smooth(p), smooth(q)
    return float(np.sum(p * np.log(p / q)))


def main():
    hist = np.load(sys.argv[1]).astype(np.float64)
    levels = 128
    kls = [divergence(hist, i, levels) for i in range(levels, hist.size + 1)]
    best = levels + int(np.argmin(kls))
    print(best)


if __name__ == "__main__":
    main()
