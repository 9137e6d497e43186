/**
 * Finds this worker's GPUs: declared with UPDRAFT_GPU_DEVICES (e.g. "0,1") and UPDRAFT_GPU_TYPE, or
 * detected with `nvidia-smi` when it is installed. No GPUs: an empty inventory (no GPU queue).
 */
import { execFileSync } from 'node:child_process';

export interface GpuInventory {
  devices: string[];
  gpuType: string | null;
  source: 'declared' | 'nvidia-smi' | 'none';
}

export class GpuConfigError extends Error {
  override readonly name = 'GpuConfigError';
}

export function parseDeclaredDevices(raw: string): string[] {
  const devices = raw
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  for (const d of devices) {
    if (!/^[A-Za-z0-9:._-]+$/.test(d))
      throw new GpuConfigError(`UPDRAFT_GPU_DEVICES: "${d}" is not a device id (expected e.g. "0,1" or GPU UUIDs)`);
  }
  if (new Set(devices).size !== devices.length)
    throw new GpuConfigError(`UPDRAFT_GPU_DEVICES lists a device twice: "${raw}"`);
  return devices;
}

/** `nvidia-smi --query-gpu=index,name` output → ids and a normalised type ("NVIDIA A100-SXM4-80GB" → "a100"). */
export function parseNvidiaSmi(output: string): { devices: string[]; gpuType: string | null } {
  const rows = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.split(',').map((x) => x.trim()));
  const devices = rows.map((r) => r[0]!).filter((d) => /^\d+$/.test(d));
  const name = rows[0]?.[1] ?? '';
  const m = /\b([AHLTV]\d{1,3}|RTX\s?\d{4}|B\d{3})\b/i.exec(name);
  return { devices, gpuType: m ? m[1]!.replace(/\s/g, '').toLowerCase() : null };
}

export function detectGpus(env: NodeJS.ProcessEnv = process.env): GpuInventory {
  if (env.UPDRAFT_GPU_DEVICES !== undefined && env.UPDRAFT_GPU_DEVICES !== '') {
    return {
      devices: parseDeclaredDevices(env.UPDRAFT_GPU_DEVICES),
      gpuType: env.UPDRAFT_GPU_TYPE || null,
      source: 'declared',
    };
  }
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=index,name', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const parsed = parseNvidiaSmi(out);
    if (parsed.devices.length > 0)
      return { ...parsed, gpuType: env.UPDRAFT_GPU_TYPE || parsed.gpuType, source: 'nvidia-smi' };
  } catch {
    // nvidia-smi absent or failing: no GPUs on this machine.
  }
  return { devices: [], gpuType: null, source: 'none' };
}
