/**
 * The one user-facing error of the prediction API and every front end (cli, serve, web): its
 * message is a complete explanation naming the problem ("context CSV 'obs.csv', row 12, column
 * 'pm10': expected a number, got 'n/a'"), shown without a stack trace. The command line exits 1
 * on it; the HTTP service answers 4xx with it; the web page shows it.
 */
export class UserError extends Error {
  override name = 'UserError';
}
