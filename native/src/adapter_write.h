// Writes LoRA adapters as GGUF files that llama.cpp (and so node-llama-cpp) loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lora.h"
#include "model_load.h"

// The tensor types of a written adapter.
// - F32, F16, Q8_0: llama.cpp's layout, which llama.cpp loads as it is. Q8_0 quantizes lora_a
//   (rows of the base weight's input width, a multiple of 32) and keeps lora_b in F16: its rows
//   are only `rank` long, shorter than a Q8_0 block.
// - Q4_K, Q3_K: the compact layout, for disk. lora_b is 60% of a FFN adapter's values and its
//   rows are too short to quantize, so B is stored transposed ("lora_bt", rows of the output
//   width) and both factors become K-quant rows, zero-padded to a multiple of 256 (the true
//   lengths are recorded in the file). llama.cpp cannot read this layout: the runtime expands
//   such files (adapter_merge) before applying them.
enum adapter_out_type { ADAPTER_OUT_F32, ADAPTER_OUT_F16, ADAPTER_OUT_Q8_0, ADAPTER_OUT_Q4_K, ADAPTER_OUT_Q3_K };

// Parses "f32", "f16", "q8_0", "q4_k" or "q3_k"; false for anything else.
bool adapter_out_type_parse(const std::string & name, adapter_out_type & out);

// One tensor to write, as F32 values in ggml order (ne0 varies fastest).
struct adapter_tensor_values {
    std::string   name;  // blk.N.<target>.weight.lora_a / .lora_b
    int64_t       ne0 = 0, ne1 = 0;
    const float * data = nullptr;
    bool          is_a = false;
};

// Writes to a temporary file next to out_path and renames it over out_path, so a crash never
// leaves a half-written adapter under the final name. Throws trainer_error(io-error).
void adapter_file_write(const std::string & arch, float alpha, const std::vector<adapter_tensor_values> & tensors,
                        const std::string & out_path, adapter_out_type out_type);

// A trained adapter (F32 tensors in CPU memory) through adapter_file_write.
void adapter_write(const base_model & model, const lora_adapter & adapter, const std::string & out_path, adapter_out_type out_type);

// Checks early (before training) that out_path's folder accepts a new file.
void adapter_out_path_check(const std::string & out_path);
