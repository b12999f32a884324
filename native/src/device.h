// Compute devices for the trainer: the GPU backends that node-llama-cpp ships (Vulkan, CUDA),
// loaded at run time next to the CPU backend, and moving tensors between devices. Which device
// to use is policy and lives in TypeScript (LoraTrainer.ts); this file only finds and places.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml-backend.h"

struct device_info {
    std::string name;         // ggml's device name, e.g. "Vulkan0", "CUDA0", "CPU"
    std::string description;  // what the driver calls it, e.g. "NVIDIA GeForce RTX 4070"
    std::string type;         // "cpu", "gpu", "igpu" or "accel"
    size_t      memory_free  = 0;
    size_t      memory_total = 0;
};

// Loads each GPU backend library (e.g. .../linux-x64-vulkan/libggml-vulkan.so) once per
// process. They share libggml-base with the CPU backend. A library that fails to load (no
// driver, missing dependencies) is skipped: its devices just do not appear. Returns, for each
// path that failed, a line saying so.
std::vector<std::string> device_backends_load(const std::vector<std::string> & paths);

// Every device ggml knows now (after backend_cpu_init and device_backends_load).
std::vector<device_info> device_list();

// The device named `name` (as device_info::name), or null.
ggml_backend_dev_t device_find(const std::string & name);

// Moves every tensor of ctx into one new buffer of buft and returns it (the caller owns it and
// frees the old buffer). The tensors keep their addresses as objects, so graphs and maps that
// point at them stay valid. Throws trainer_error(out-of-memory) naming `what`.
ggml_backend_buffer_t device_tensors_move(ggml_context * ctx, ggml_backend_buffer_type_t buft, const std::string & what);
