/** SendGrid v3 Mail Send and key scopes: the port and its got adapter. */
export { createSendGridClient, mailBody, sendgridAnswerError, sendgridCode, type SendGridClientOptions } from './http.js';
export type * from './port.js';
export { activityQueryByCustomArg } from './port.js';
