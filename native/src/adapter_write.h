// Writes a trained adapter as a GGUF LoRA file that llama.cpp (and so node-llama-cpp) loads.
#pragma once

#include <string>

#include "lora.h"
#include "model_load.h"

// Writes to a temporary file next to out_path and renames it over out_path, so a crash never
// leaves a half-written adapter under the final name. Throws trainer_error(io-error).
void adapter_write(const base_model & model, const lora_adapter & adapter, const std::string & out_path, bool f16);

// Checks early (before training) that out_path's folder accepts a new file.
void adapter_out_path_check(const std::string & out_path);
