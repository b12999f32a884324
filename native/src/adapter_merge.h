// Merges LoRA adapter files into one file, without the base model.
#pragma once

#include <string>
#include <vector>

#include "adapter_write.h"
#include "lora.h"

// Writes one adapter equal to applying all `inputs` together, each with its scale:
// W x + sum_i s_i B_i A_i x = W x + [s_1 B_1 | ... | s_k B_k] [A_1; ...; A_k] x, where s_i is
// scale_i * alpha_i / r_i (llama.cpp's rule). The result has rank sum r_i and alpha 0 (so
// llama.cpp applies the baked-in scales as they are). One input with scale 1 is a plain type
// conversion and keeps its alpha. Throws trainer_error for unreadable or mismatched inputs.
void adapter_merge(const std::vector<adapter_spec> & inputs, const std::string & out_path, adapter_out_type out_type);
