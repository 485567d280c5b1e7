// Pinned, device-mapped host memory for system-memory video buffers (Jetson's zero-copy path).
//
// edgertinfer offers a GstVideoBufferPool whose allocator takes its memory from
// cudaHostAlloc(cudaHostAllocMapped | cudaHostAllocPortable): upstream elements write frames into
// it as ordinary system memory, and the CUDA preprocessing kernel reads the same bytes through the
// device pointer from cudaHostGetDevicePointer() — no copy. On Jetson (integrated memory) the device
// pointer addresses the same DRAM; on a discrete GPU the kernel reads over PCIe.
//
// NVMM (Jetson's NvBufSurface memory, caps feature memory:NVMM) is designed to enter through the
// same FrameView interface (device-accessible planes with strides) but is untested: there is no
// Jetson in CI.
//
// Everything here is compiled only with the CUDA backend (EDGERT_HAVE_CUDA); the allocator calls
// CUDA only when a buffer is allocated, so loading the plugin needs no GPU.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

namespace edgert::gst {

// A buffer pool for `caps` (video/x-raw, system memory) with at least `min_buffers` buffers whose
// memory is pinned and device-mapped on CUDA device `device_id`. Returns a new reference, or NULL
// when the build has no CUDA backend.
GstBufferPool* NewPinnedVideoPool(GstCaps* caps, guint min_buffers, int device_id);

// The pinned allocator itself (a new reference; NULL without the CUDA backend). propose_allocation
// offers it as the first allocation parameter too: upstream elements that configure the proposed
// pool with the query's first allocator (GstBaseSrc, GstVideoDecoder) would otherwise replace the
// pinned allocator with the default system-memory one.
GstAllocator* NewPinnedAllocator(int device_id);

// When `memory` came from the pinned allocator, stores in *device the device address of host
// address `host` (which must lie inside the memory's mapping) and returns TRUE; FALSE otherwise.
gboolean PinnedDevicePointer(GstMemory* memory, const void* host, const void** device);

}  // namespace edgert::gst
