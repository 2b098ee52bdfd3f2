/**
 * An error the simulated provider answers with: HTTP status plus a Telnyx-style
 * body `{"errors":[{code,title,detail}]}` (ProviderErrorBody).
 */
import type { ProviderErrorBody } from '../wire/telnyx.js';

export class ProviderApiError extends Error {
  readonly status: number;
  readonly providerCode: string;
  readonly title: string;
  readonly detail: string | undefined;

  constructor(status: number, providerCode: string, title: string, detail?: string) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ProviderApiError';
    this.status = status;
    this.providerCode = providerCode;
    this.title = title;
    this.detail = detail;
  }

  toBody(): ProviderErrorBody {
    const error: ProviderErrorBody['errors'][number] = { code: this.providerCode, title: this.title };
    if (this.detail !== undefined) error.detail = this.detail;
    return { errors: [error] };
  }
}
