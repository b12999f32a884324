// The wire protocol of the API contract, the same over MessagePorts (Electron) and WebSocket
// (headless server): unions tagged by `type`, errors as SerializedError. One generic proxy
// turns the contract into calls, one dispatcher turns calls back into method invocations.
import { apiArgs, isApiMethod, type ApiEvent, type ApiMethod, type ParamKbApi, type ParamKbEvents } from './contract.js';
import { deserializeError, serializeError } from './errors.js';
import type { SerializedError } from './types.js';

export type RpcMessage =
  | { type: 'request'; id: number; method: ApiMethod; args: unknown[] }
  | { type: 'response'; id: number; ok: true; value: unknown }
  | { type: 'response'; id: number; ok: false; error: SerializedError }
  | { type: 'event'; event: ApiEvent; payload: unknown };

export type EventHandler<E extends ApiEvent> = (payload: ParamKbEvents[E]) => void;

export interface ApiClient extends ParamKbApi {
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends ApiEvent>(event: E, handler: EventHandler<E>): () => void;
}

/** A two-way message channel: a MessagePort, a WebSocket, or a test double. */
export interface RpcTransport {
  send(message: RpcMessage): void;
  onMessage(handler: (message: RpcMessage) => void): void;
}

export function createApiClient(transport: RpcTransport): ApiClient {
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  const handlers = new Map<ApiEvent, Set<(payload: unknown) => void>>();

  transport.onMessage((message) => {
    if (message.type === 'response') {
      const call = pending.get(message.id);
      if (!call) return;
      pending.delete(message.id);
      if (message.ok) call.resolve(message.value);
      else call.reject(deserializeError(message.error));
    } else if (message.type === 'event') {
      for (const handler of handlers.get(message.event) ?? []) handler(message.payload);
    }
  });

  const on = <E extends ApiEvent>(event: E, handler: EventHandler<E>): (() => void) => {
    let set = handlers.get(event);
    if (!set) handlers.set(event, (set = new Set()));
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => set.delete(h);
  };

  return new Proxy({ on } as ApiClient, {
    get(target, property) {
      if (property === 'on') return target.on;
      if (!isApiMethod(property)) return undefined;
      return (...args: unknown[]) => new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        transport.send({ type: 'request', id, method: property, args });
      });
    },
  });
}

/**
 * Serves one API implementation on a transport: validates every request's arguments, calls
 * the method, and answers with the value or the serialized error. Never throws.
 */
export async function dispatchRequest(api: ParamKbApi, message: RpcMessage, reply: (m: RpcMessage) => void): Promise<void> {
  if (message.type !== 'request') return;
  const id = message.id;
  try {
    if (!isApiMethod(message.method)) throw Object.assign(new Error(`Unknown method '${String(message.method)}'.`), { code: 'unknown-method' });
    if (!Array.isArray(message.args)) throw Object.assign(new Error('Arguments must be an array.'), { code: 'invalid-arguments' });
    const args = apiArgs[message.method](message.args);
    const method = api[message.method] as (...a: unknown[]) => Promise<unknown>;
    const value = await method.apply(api, args);
    reply({ type: 'response', id, ok: true, value: value ?? null });
  } catch (error) {
    reply({ type: 'response', id, ok: false, error: serializeError(error) });
  }
}

/** Checks that an untrusted parsed value has the shape of an RpcMessage. */
export function isRpcMessage(value: unknown): value is RpcMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as { type?: unknown; id?: unknown };
  if (m.type === 'request' || m.type === 'response') return typeof m.id === 'number';
  return m.type === 'event';
}

/** A typed event emitter the engine uses to publish ParamKbEvents. */
export type EventSink = <E extends ApiEvent>(event: E, payload: ParamKbEvents[E]) => void;
