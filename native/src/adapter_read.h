// Reads LoRA adapter files in both layouts we write (adapter_write.h): llama.cpp's (lora_a
// [in, r], lora_b [r, out]) and the compact one (lora_a and lora_bt as K-quant rows padded to
// 256). Every structural check lives here, so the trainer and the merge refuse a bad file with
// the same message.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

struct adapter_file_weight {
    int64_t in = 0, out = 0, rank = 0;
    const ggml_tensor * a = nullptr;  // lora_a as stored
    const ggml_tensor * b = nullptr;  // lora_b, or lora_bt ([out, r]) in the compact layout
    bool b_transposed = false;
};

struct adapter_file {
    std::string path;
    std::string arch;
    float       alpha   = 0.0f;
    bool        compact = false;
    // By the name of the weight adapted (blk.N.<target>.weight), so iteration order is stable.
    std::map<std::string, adapter_file_weight> weights;
    // Ownership: the parsed header and a context holding every tensor with its data.
    gguf_context * gguf = nullptr;
    ggml_context * data = nullptr;

    adapter_file() = default;
    adapter_file(const adapter_file &) = delete;
    adapter_file & operator=(const adapter_file &) = delete;
    ~adapter_file();
};

// Throws trainer_error: io-error when the file cannot be opened, invalid-input when it is not
// a readable GGUF LoRA adapter, holds an unknown type or shape, or pairs tensors wrongly.
void adapter_file_read(const std::string & path, adapter_file & out);

// Whether the file is in the compact layout, from its header alone (cheap; no checks beyond
// that: adapter_file_read does them). Throws like adapter_file_read for unreadable files.
bool adapter_file_is_compact(const std::string & path);

// A's values as F32, [in, r] with in varying fastest (llama.cpp's lora_a order).
std::vector<float> adapter_file_a_values(const adapter_file_weight & w);

// B's values as F32, [r, out] with r varying fastest (llama.cpp's lora_b order).
std::vector<float> adapter_file_b_values(const adapter_file_weight & w);

// GGUF keys of the compact layout.
constexpr const char * ADAPTER_LAYOUT_KEY = "paramkb.lora.layout";  // "compact"; absent in llama.cpp's layout
std::string adapter_length_key(const std::string & tensor_name);    // unpadded row length of a compact tensor
