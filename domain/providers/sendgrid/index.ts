/** SendGrid v3 Mail Send: the port and its got adapter. */
export { createSendGridClient, mailBody, sendgridCode, type SendGridClientOptions } from './http.js';
export type * from './port.js';
