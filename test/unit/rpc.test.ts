import { describe, expect, it } from 'vitest';
import { apiArgs, type ParamKbApi } from '../../electron/shared/contract.js';
import { NotFoundError } from '../../electron/shared/errors.js';
import { createApiClient, dispatchRequest, type RpcMessage, type RpcTransport } from '../../electron/shared/rpc.js';

/** A client and a server joined by an in-memory channel. */
function connect(api: Partial<ParamKbApi>) {
  const toClient: ((m: RpcMessage) => void)[] = [];
  const transport: RpcTransport = {
    send: (message) => {
      const copy = JSON.parse(JSON.stringify(message)) as RpcMessage; // what a real wire does
      void dispatchRequest(api as ParamKbApi, copy, (reply) => toClient.forEach((h) => h(JSON.parse(JSON.stringify(reply)) as RpcMessage)));
    },
    onMessage: (handler) => { toClient.push(handler); },
  };
  return { client: createApiClient(transport), emit: (m: RpcMessage) => toClient.forEach((h) => h(m)) };
}

describe('rpc', () => {
  it('calls methods through the generic proxy and returns values', async () => {
    const { client } = connect({ search: async (query, k) => [{ passageId: k, documentId: 1, documentTitle: query, position: 0, score: 1, snippet: '', text: '' }] });
    const hits = await client.search('hello', 2);
    expect(hits[0]).toMatchObject({ passageId: 2, documentTitle: 'hello' });
  });

  it('rejects invalid arguments before the method runs', async () => {
    let called = false;
    const { client } = connect({ search: async () => { called = true; return []; } });
    await expect(client.search(42 as unknown as string, 3)).rejects.toMatchObject({ name: 'InvalidArgumentsError', code: 'invalid-arguments', expected: true });
    await expect(client.search('x', 1000)).rejects.toThrow(/integer in \[1, 100\]/);
    expect(called).toBe(false);
  });

  it('keeps the name, code and expected flag of errors', async () => {
    const { client } = connect({ getDocument: async (id) => { throw new NotFoundError(`Document ${id}`); } });
    await expect(client.getDocument(7)).rejects.toMatchObject({ name: 'NotFoundError', code: 'not-found', expected: true, message: 'Document 7 was not found.' });
  });

  it('refuses unknown methods and malformed requests', async () => {
    const replies: RpcMessage[] = [];
    await dispatchRequest({} as ParamKbApi, { type: 'request', id: 1, method: 'constructor' as never, args: [] }, (m) => replies.push(m));
    await dispatchRequest({} as ParamKbApi, { type: 'request', id: 2, method: 'search', args: 'x' as never }, (m) => replies.push(m));
    expect(replies.map((r) => r.type === 'response' && !r.ok && r.error.code)).toEqual(['unknown-method', 'invalid-arguments']);
  });

  it('delivers events to subscribers until they unsubscribe', () => {
    const { client, emit } = connect({});
    const seen: string[] = [];
    const off = client.on('answerToken', (e) => seen.push(e.text));
    emit({ type: 'event', event: 'answerToken', payload: { requestId: 'r', chatId: 1, text: 'a' } });
    off();
    emit({ type: 'event', event: 'answerToken', payload: { requestId: 'r', chatId: 1, text: 'b' } });
    expect(seen).toEqual(['a']);
  });

  it('validates settings patches field by field', () => {
    expect(apiArgs.updateSettings([{ topK: 5, theme: 'dark' }])).toEqual([{ topK: 5, theme: 'dark' }]);
    expect(() => apiArgs.updateSettings([{ topK: 0 }])).toThrow();
    expect(() => apiArgs.updateSettings([{ dataDir: '/tmp' }])).toThrow(/unknown setting/);
    expect(() => apiArgs.ask([{ chatId: 1, question: 'q', mode: 'magic', k: 3 }])).toThrow(/mode must be one of/);
  });

  it('takes auto, cpu or a device name as the encoding device, and nothing else', () => {
    expect(apiArgs.updateSettings([{ encoderDevice: 'auto' }])).toEqual([{ encoderDevice: 'auto' }]);
    expect(apiArgs.updateSettings([{ encoderDevice: 'CPU' }])).toEqual([{ encoderDevice: 'cpu' }]);
    expect(apiArgs.updateSettings([{ encoderDevice: 'Auto' }])).toEqual([{ encoderDevice: 'auto' }]);
    expect(apiArgs.updateSettings([{ encoderDevice: 'CUDA0' }])).toEqual([{ encoderDevice: 'CUDA0' }]);
    expect(apiArgs.updateSettings([{ encoderDevice: 'Vulkan1', encoderThreads: 2 }])).toEqual([{ encoderDevice: 'Vulkan1', encoderThreads: 2 }]);
    expect(apiArgs.updateSettings([{ encoderDevice: 'x'.repeat(64) }])).toEqual([{ encoderDevice: 'x'.repeat(64) }]);
    for (const bad of ['', 'x'.repeat(65), 'CUDA 0', '../gpu', 'Vulkan0;rm', 0, null, ['CUDA0']]) {
      expect(() => apiArgs.updateSettings([{ encoderDevice: bad }]), String(bad)).toThrow(/encoderDevice must be 'auto', 'cpu' or a device name/);
    }
  });

  it('lists encoding devices without arguments', () => {
    expect(apiArgs.getEncodingDevices([])).toEqual([]);
    expect(() => apiArgs.getEncodingDevices(['CUDA0'])).toThrow(/takes no arguments/);
  });
});
