import { toUploadError } from '../errors.js';
import type { DeliveryReceipt, DeliverySource, Destination } from '../ports/destination.js';
import type { StepContext } from './context.js';

/** Step 6: hand the zip (or the organised folder) to the destination, which delivers atomically. */
export async function deliver(
  destination: Destination,
  source: DeliverySource,
  remotePath: string,
  context: StepContext,
): Promise<DeliveryReceipt> {
  context.progress.stage('deliver');
  context.progress.totals(1, source.size);
  let reported = 0;
  try {
    const receipt = await destination.upload(source, remotePath, {
      signal: context.signal,
      job: context.job,
      onProgress: (bytesDone) => {
        if (bytesDone > reported) {
          context.progress.advance(0, bytesDone - reported);
          reported = bytesDone;
        }
      },
    });
    context.progress.advance(1, Math.max(0, source.size - reported));
    return receipt;
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason ?? error;
    throw toUploadError(error, 'deliver', 'DESTINATION_ERROR');
  }
}
