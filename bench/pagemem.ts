// Page-aligned memory without the addon: WebAssembly.Memory is allocated in
// 64 KiB pages on a page boundary, which satisfies O_DIRECT alignment. Used
// by the fs.promises contender (which must not load direct-aio) and for
// writing the data files.

// @types/node does not declare the WebAssembly global; this is all we need of it.
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } }

/** `count` Buffers of `size` bytes, each starting on a 4 KiB boundary. */
export function pageAlignedBuffers(count: number, size: number): Buffer[] {
  const stride = Math.ceil(size / 4096) * 4096
  const mem = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil((stride * count) / 65536)) })
  const out: Buffer[] = []
  for (let i = 0; i < count; i++) out.push(Buffer.from(mem.buffer, i * stride, size))
  return out
}
