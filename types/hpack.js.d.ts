// Types for the parts of hpack.js (HPACK, RFC 7541) that lib/server/grpc-uds-authority.ts uses.
declare module 'hpack.js' {
  export interface HeaderField {
    name: string;
    value: string;
    neverIndex?: boolean;
    huffman?: boolean;
  }
  export interface Decompressor {
    write(chunk: Buffer): boolean;
    execute(): void;
    read(): HeaderField | null;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  export interface Compressor {
    write(headers: HeaderField[]): boolean;
    read(): Buffer | null;
  }
  export const decompressor: { create(options: { table: { size: number } }): Decompressor };
  export const compressor: { create(options: { table: { size: number } }): Compressor };
}
