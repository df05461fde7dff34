// Written by vendor/refresh.sh: the part of @msgpack/msgpack's API that Hearth's client uses.
export function encode(value: unknown, options?: object): Uint8Array;
export function decode(buffer: ArrayLike<number> | ArrayBufferView | ArrayBufferLike, options?: object): unknown;
