// The ggml CPU backend, loaded from the prebuilt node-llama-cpp binaries so that training and
// inference run the same ggml code (and the variant that fits this CPU: AVX2, AVX-512, ...).
#pragma once

#include <cstdint>
#include <string>

#include "ggml-backend.h"

// Loads the backends found in bins_dir once per process (a no-op when a CPU device is already
// registered, e.g. by node-llama-cpp in the same process) and returns a new CPU backend with
// n_threads threads. The caller owns the backend (ggml_backend_free). Throws trainer_error.
ggml_backend_t backend_cpu_init(const std::string & bins_dir, int32_t n_threads);

// Sets the threads a CPU backend computes with (n_threads <= 0: unchanged). Cheap: ggml starts
// its threads per graph, so a caller can give each graph its own count.
void backend_cpu_set_threads(ggml_backend_t backend, int32_t n_threads);

// Sets the function that the CPU backend's first compute thread calls after each node of a graph
// (nullptr: none). It may block: the other threads then wait at ggml's barrier. Returning true
// aborts the graph (ggml_backend_graph_compute returns GGML_STATUS_ABORTED).
void backend_cpu_set_abort_callback(ggml_backend_t backend, ggml_abort_callback callback, void * data);

// The buffer type of a CPU backend's compute buffers (a graph's activations and gradients): the
// CPU buffer type, with tensors placed on 64-byte boundaries instead of ggml's 32. A tensor
// that starts mid cache line makes every 64-byte access of the kernels that read and write their
// output per block of K (the AMX Q8_0 matmul, out_prod) touch two lines, and the sequence
// lengths whose tensor sizes put half the tensors there trained markedly slower
// (bench/trainer.md, 2026-12-04 session eleven).
ggml_backend_buffer_type_t backend_cpu_compute_buffer_type();
