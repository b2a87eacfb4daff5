/** The control plane's logger: one line per event, to stderr by default. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * `message` on one line: line breaks (a rejected config lists one issue per
 * line) are written as `\n`, so a line-oriented log collector keeps each
 * event whole and the issues can still be read apart.
 */
function oneLine(message: string): string {
  return message.replace(/\r\n|\r|\n/g, '\\n');
}

export function consoleLogger(
  prefix = 'enmesh control-plane',
  write: (text: string) => void = (t) => void process.stderr.write(t),
): Logger {
  const line = (level: string, message: string): void => {
    write(`${new Date().toISOString()} ${level} ${prefix}: ${oneLine(message)}\n`);
  };
  return {
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
