import path from 'node:path';

/**
 * Loads build/native/<name>.node (scripts/build-native.js). This file is compiled to build/lib
 * and bundled into build/cmd, both one level below build/, so one relative path serves the
 * daemon's bundle and the tests' tsc output; a module deeper in lib/ could not say that itself.
 * Undefined when the addon was not built (no C compiler) or does not load: callers fall back.
 */
export function loadNativeAddon<T>(name: string): T | undefined {
  try {
    return require(path.join(__dirname, '..', 'native', `${name}.node`)) as T;
  } catch {
    return undefined;
  }
}
