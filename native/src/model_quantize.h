// Quantizes a GGUF model with libllama's llama_model_quantize (the code llama-quantize runs),
// for test fixtures and benchmark models built from our own F32/F16 files.
#pragma once

#include <cstdint>
#include <string>

// type: "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_s", "q4_k_m",
// "q5_k_s", "q5_k_m", "q6_k". Throws trainer_error (invalid-input, io-error).
void model_quantize(const std::string & in_path, const std::string & out_path, const std::string & type, int32_t n_threads);
