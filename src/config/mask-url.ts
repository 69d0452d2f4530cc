// Connection strings appear in messages with their password replaced.

/** `url` with its password as ***; a value that does not parse as a URL is returned as it is. */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
