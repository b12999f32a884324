// Packs the sequences of one training micro-batch into one sequence, so that one forward and
// backward pass computes what a pass per sequence would.
//
// An adapter's training sequences ask different questions about the same passage: their chat
// template and passage, most of their tokens, are the same. The packed sequence holds the
// sequences' longest common prefix once, then the rest of each sequence as a branch that sees
// the prefix and its own earlier tokens (not the other branches), at the positions those tokens
// have in their own sequence. Every token then computes the values it has in its own sequence,
// and a target of the prefix counts once for each sequence that has it: the packed loss is the
// sum of the sequences' losses, and its gradient is the batch's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "trainer.h"

// Whether token i of seq is a target of the loss (its loss mask, or every token when empty).
bool loss_mask_at(const token_sequence & seq, size_t i);

// The number of targets of seq: tokens after the first whose loss mask is 1.
size_t loss_target_count(const token_sequence & seq);

struct packed_target {
    int32_t row     = 0;  // the packed token whose logits predict the target
    int32_t next    = 0;  // the target token
    int32_t weight  = 1;  // how many sequences' losses the target stands for
    // For soft labels (only unpacked sequences have them): the sequence and the target's ordinal
    // among its targets, which index its teacher's rows.
    int32_t seq     = 0;
    int32_t ordinal = 0;
};

struct packed_batch {
    std::vector<int32_t> tokens;
    std::vector<int32_t> pos;     // each token's position in its own sequence
    std::vector<int32_t> branch;  // 0: the shared prefix; b > 0: sequence b - 1's own tokens
    std::vector<packed_target> targets;  // by weight, largest first (the loss groups them)
    size_t shared = 0;  // tokens in the shared prefix
};

// One sequence as a packed batch of one (no branches, positions 0..n-1).
packed_batch batch_pack_one(const token_sequence & seq);

// The sequences packed around their longest common prefix. The last common token starts every
// branch, so that each prefix target is the same token in every sequence. Sequences with soft
// targets are not packed: give them to batch_pack_one.
packed_batch batch_pack(const std::vector<const token_sequence *> & seqs);
