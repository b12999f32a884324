// The one source of the hyperparameters new adapters get by default: the settings, the encoding
// config, the CLI's help and the Settings view all read them from here. They are ParamKB's
// policy, tuned on the world dev split (docs/results.md, 2026-11-26 and 2026-12-03): the
// paper's lr 3e-4 for one epoch, which the native trainer keeps as its own defaults, barely
// moves a small model; two epochs at 4e-3 match three at 2e-3 with two thirds of the training.
export const ADAPTER_DEFAULTS = {
  /** LoRA rank (the paper's). */
  rank: 2,
  /** LoRA alpha: the update is (alpha / rank) * B A. */
  alpha: 32,
  learningRate: 4e-3,
  epochs: 2,
} as const;
