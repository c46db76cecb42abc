/**
 * Imports a module of the package that may not be built yet (features land in steps): null when the
 * module file itself is missing, any other failure (a syntax error, a missing dependency) is rethrown.
 */
export async function importOptional<T>(relativeToCli: string): Promise<T | null> {
  const url = new URL(relativeToCli, import.meta.url);
  try {
    return (await import(url.href)) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { url?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && (err.url === url.href || err.message.includes(url.pathname))) return null;
    throw e;
  }
}
