// What a failed model download says: the reason in words, never the downloader's internal URI.
import { describe, expect, it } from 'vitest';
import { downloadFailureMessage } from '../../electron/core/llm/modelDownloads.js';

describe('download failures', () => {
  it('say what went wrong without the internal hf: URI', () => {
    // node-llama-cpp's error when huggingface.co cannot be reached.
    const offline = new Error('Failed to fetch manifest for resolving URI "hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M": TypeError: fetch failed');
    const message = downloadFailureMessage('Llama 3.2 1B Instruct (Q4_K_M)', offline);
    expect(message).toBe('The download of Llama 3.2 1B Instruct (Q4_K_M) failed: the download server (huggingface.co) could not be reached. Check the internet connection and try again; it resumes where it stopped.');
    expect(downloadFailureMessage('M', Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toMatch(/the disk is full/);
    const other = downloadFailureMessage('M', new Error('Unexpected header in "hf:owner/repo:Q4_K_M".'));
    expect(other).not.toContain('hf:');
    expect(other).toBe('The download of M failed: Unexpected header in the model. Try again; it resumes where it stopped.');
  });
});
