// Human-readable sizes and facts, for the UI and the command line alike.
import type { EncodingDevice, ModelInfo } from './types.js';

export function formatBytes(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? '' : 's'}${hours % 24 ? ` ${hours % 24} h` : ''}`;
}

const GPU_BACKEND_NAMES: Record<string, string> = { cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal' };

/** 'cuda' -> 'CUDA', 'vulkan' -> 'Vulkan', ... */
export function gpuBackendName(backend: string): string {
  return GPU_BACKEND_NAMES[backend] ?? backend;
}

/** Where a loaded model runs: "GPU (CUDA: NVIDIA H200), 16 of 16 layers", or "CPU". */
export function formatRunsOn(model: Pick<ModelInfo, 'gpu' | 'gpuDevices' | 'gpuLayers' | 'layerCount'>): string {
  if (!model.gpu) return 'CPU';
  const backend = gpuBackendName(model.gpu);
  const where = model.gpuDevices.length > 0 ? `${backend}: ${model.gpuDevices.join(', ')}` : backend;
  return `GPU (${where}), ${model.gpuLayers}${model.layerCount ? ` of ${model.layerCount}` : ''} layers`;
}

/** The device an encoder trains on: "NVIDIA GeForce RTX 4070 (CUDA0)", "AMD Ryzen 7 7840U (CPU)". */
export function formatEncodingDevice(device: Pick<EncodingDevice, 'name' | 'description'>): string {
  return device.description && device.description !== device.name ? `${device.description} (${device.name})` : device.name;
}

/** An ISO time as local "2026-01-31 14:05" (an unreadable one as given). */
export function formatLocalTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())}`;
}
