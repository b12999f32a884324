// How `paramkb worker` and `paramkb encode --redis` reach Redis: a redis:// or rediss:// URL, a
// password kept off the command line, and TLS with the team's own CA (and a client certificate
// for mutual TLS). Connections retry for ever, so a restarting Redis pauses the work instead
// of failing it.
import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'bullmq';
import { ParamKbError } from '../../shared/errors.js';

export interface RedisConnectionOptions {
  /** redis://[user[:password]@]host[:port][/db], or rediss://… for TLS. Port default 6379, db default 0. */
  url: string;
  /** The password; overrides one in the URL (which other users of the machine can see in the process list). */
  password?: string;
  /** PEM file of the CA that signed the server's certificate; any TLS option turns TLS on. Default: the system's CAs. */
  tlsCaFile?: string;
  /** PEM files of a client certificate and its key, for servers that require mutual TLS. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

export class RedisConfigError extends ParamKbError {
  override name = 'RedisConfigError';
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new RedisConfigError('redis-config', `Cannot read the ${what} ${path}: ${(error as Error).message}.`);
  }
}

/** The ioredis options for BullMQ (which needs maxRetriesPerRequest null: commands wait for a reconnect). */
export function redisOptions(options: RedisConnectionOptions): RedisOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new RedisConfigError('redis-config', `'${options.url}' is not a Redis URL; write it as redis://host:6379 (or rediss://host:6380 for TLS).`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new RedisConfigError('redis-config', `'${options.url}' is not a Redis URL: it must start with redis:// or rediss:// (TLS).`);
  }
  if (!url.hostname) throw new RedisConfigError('redis-config', `The Redis URL '${options.url}' names no host.`);
  const db = url.pathname && url.pathname !== '/' ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RedisConfigError('redis-config', `The Redis URL's database must be a number, e.g. redis://host:6379/0.`);
  const useTls = url.protocol === 'rediss:' || options.tlsCaFile !== undefined || options.tlsCertFile !== undefined || options.tlsKeyFile !== undefined;
  if ((options.tlsCertFile === undefined) !== (options.tlsKeyFile === undefined)) {
    throw new RedisConfigError('redis-config', 'A TLS client certificate needs its key, and a key its certificate: give both files.');
  }
  const password = options.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    db,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(password ? { password } : {}),
    ...(useTls ? {
      tls: {
        servername: url.hostname,
        ...(options.tlsCaFile ? { ca: readPem('TLS CA file', options.tlsCaFile) } : {}),
        ...(options.tlsCertFile ? { cert: readPem('TLS certificate file', options.tlsCertFile) } : {}),
        ...(options.tlsKeyFile ? { key: readPem('TLS key file', options.tlsKeyFile) } : {}),
      },
    } : {}),
    maxRetriesPerRequest: null,
    // Reconnect for ever, backing off to one attempt every 5 s.
    retryStrategy: (times: number) => Math.min(times * 250, 5000),
  };
}

/** The URL without its password, for messages and logs. */
export function redactedRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
