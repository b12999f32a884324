export const repoRoot: string;
export function ensureLlamaSource(): string;
