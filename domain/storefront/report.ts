/**
 * The audit report a buyer receives: a PDF (pdfkit, built in memory) from the business and its latest assessment,
 * emailed through SendGrid as an attachment, exactly once per paid purchase.
 */
import PDFDocument from 'pdfkit';
import { AssessmentResult, Business, Purchase } from '../../db/entities/index.js';
import type { IAssessmentResult } from '../../db/entities/index.js';
import { AppError } from '../errors.js';
import { recordOpsEvent } from '../events.js';
import { claimReportSend, releaseReportSend, setReportSentAt } from '../queries/purchases.js';
import type { StorefrontDeps } from './deps.js';

/** What the report shows. Scores 0–100 (PageSpeed category score × 100), null when not measured. */
export interface ReportData {
  purchaseId: number;
  businessName: string;
  website: string | null;
  city: string | null;
  generatedAt: Date;
  /** The latest `assessment_results` row of the business, or null when it was never assessed. */
  assessment: {
    assessedAt: Date;
    url: string;
    scores: { performance: number | null; accessibility: number | null; bestPractices: number | null; seo: number | null };
    /** Top PageSpeed opportunities by savings (`{ title, savingsMs }`). */
    opportunities: { title: string; savingsMs: number }[];
    /** AI recommendations (`{ title, impact, effort }`). */
    recommendations: { title: string; impact: string; effort: string }[];
    /** AI summary text. */
    insight: string | null;
  } | null;
}

/**
 * Loads {@link ReportData} for a purchase: its business and that business's newest assessment (by `created_at`).
 * @throws AppError `not_found` when the purchase or its business is missing.
 */
export async function loadReportData(deps: StorefrontDeps, purchaseId: number): Promise<ReportData> {
  const em = deps.orm.em.fork();
  const purchase = await em.findOne(Purchase, { id: purchaseId });
  if (!purchase) throw new AppError('not_found', `no purchase with id ${purchaseId}`);
  const business = purchase.business ? await em.findOne(Business, { id: purchase.business.id }) : null;
  if (!business) throw new AppError('not_found', `purchase ${purchaseId} has no business to report on`);
  const a: IAssessmentResult | null = await em.findOne(AssessmentResult, { business: business.id }, { orderBy: { createdAt: 'desc', id: 'desc' } });
  return {
    purchaseId,
    businessName: business.name,
    website: business.website ?? null,
    city: business.city ?? null,
    generatedAt: deps.clock.now(),
    assessment: a
      ? {
          assessedAt: a.createdAt,
          url: a.url,
          scores: {
            performance: a.performanceScore ?? null,
            accessibility: a.accessibilityScore ?? null,
            bestPractices: a.bestPracticesScore ?? null,
            seo: a.seoScore ?? null,
          },
          opportunities: (a.opportunities ?? []).map((o) => ({ title: o.title, savingsMs: o.savingsMs })),
          recommendations: a.recommendations ?? [],
          insight: a.insight ?? null,
        }
      : null,
  };
}

/**
 * Renders the report as PDF bytes, in memory (no files): title, business and website, the four category scores,
 * top opportunities with estimated savings, AI recommendations with impact/effort, and the AI summary. The business
 * name is also the document `Title`. `compress: false` leaves the content streams readable (tests).
 */
export function renderAuditReport(data: ReportData, opts: { compress?: boolean } = {}): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const doc = new PDFDocument({
      size: 'A4',
      margin: 50,
      compress: opts.compress ?? true,
      info: { Title: `Website audit report: ${data.businessName}`, Author: 'LeadFactory', Subject: data.website ?? data.businessName, CreationDate: data.generatedAt },
    });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    try {
      doc.font('Helvetica-Bold').fontSize(22).text('Website audit report');
      doc.moveDown(0.5).fontSize(16).text(data.businessName);
      doc.font('Helvetica').fontSize(11).fillColor('#444');
      if (data.website) doc.text(data.website);
      if (data.city) doc.text(data.city);
      doc.text(`Prepared ${data.generatedAt.toISOString().slice(0, 10)} · order #${data.purchaseId}`).fillColor('black');
      const a = data.assessment;
      if (!a) {
        doc.moveDown().fontSize(12).text('This website has not been assessed yet. We will follow up with the full report.');
        doc.end();
        return;
      }
      heading(doc, 'Scores (0–100)');
      const score = (label: string, v: number | null) => doc.text(`${label}: ${v === null ? 'not measured' : `${v} / 100`}`);
      score('Performance', a.scores.performance);
      score('Accessibility', a.scores.accessibility);
      score('Best practices', a.scores.bestPractices);
      score('SEO', a.scores.seo);
      doc.fontSize(9).fillColor('#666').text(`Measured on ${a.url}, ${a.assessedAt.toISOString().slice(0, 10)}`).fillColor('black').fontSize(11);
      heading(doc, 'Top opportunities');
      if (a.opportunities.length === 0) doc.text('No major opportunities found.');
      for (const o of a.opportunities) doc.text(`• ${o.title} (saves about ${(o.savingsMs / 1000).toFixed(1)} s)`);
      heading(doc, 'Recommendations');
      if (a.recommendations.length === 0) doc.text('No recommendations available.');
      for (const r of a.recommendations) doc.text(`• ${r.title} (impact ${r.impact}, effort ${r.effort})`);
      if (a.insight) {
        heading(doc, 'Summary');
        doc.text(a.insight);
      }
      doc.end();
    } catch (err) {
      reject(err as Error);
    }
  });
}

function heading(doc: PDFKit.PDFDocument, text: string): void {
  doc.moveDown().font('Helvetica-Bold').fontSize(14).text(text).font('Helvetica').fontSize(11).moveDown(0.3);
}

/** What {@link deliverReport} did. */
export type ReportDelivery = 'sent' | 'already_sent' | 'not_paid';

/** Result of sending a report email. `messageId` = SendGrid `X-Message-Id`. */
export interface ReportSendResult {
  purchaseId: number;
  to: string;
  messageId: string | null;
  bytes: number;
}

async function sendReport(deps: StorefrontDeps, purchaseId: number): Promise<ReportSendResult> {
  const em = deps.orm.em.fork();
  const purchase = await em.findOne(Purchase, { id: purchaseId });
  if (!purchase) throw new AppError('not_found', `no purchase with id ${purchaseId}`);
  if (!purchase.customerEmail) throw new AppError('bad_request', `purchase ${purchaseId} has no customer email`);
  const data = await loadReportData(deps, purchaseId);
  const pdf = await renderAuditReport(data);
  const slug = data.businessName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'business';
  const res = await deps.providers.sendgrid.send({
    to: purchase.customerEmail,
    from: deps.config.sendgridFrom,
    subject: `Your website audit report: ${data.businessName}`,
    text: `Thank you for your purchase. Your website audit report for ${data.businessName} is attached (PDF).\n\nOrder #${purchaseId}`,
    customArgs: { purchase_id: String(purchaseId) },
    attachments: [{ content: pdf.toString('base64'), type: 'application/pdf', filename: `audit-report-${slug}-${purchaseId}.pdf`, disposition: 'attachment' }],
  });
  return { purchaseId, to: purchase.customerEmail, messageId: res.messageId, bytes: pdf.length };
}

/**
 * Emails the report of a paid purchase exactly once: claims it first with a conditional update
 * (`report_sent_at = now where status = 'paid' and report_sent_at is null`), so concurrent callers (webhook
 * redeliveries, replicas, replays) send one email. When building or sending fails the claim is released
 * (`report_sent_at` back to null), an ops event `report.failed` (warning) is recorded and the error is rethrown.
 * @returns `sent`, `already_sent` (claimed before) or `not_paid` (purchase missing or not `paid`).
 */
export async function deliverReport(deps: StorefrontDeps, purchaseId: number): Promise<ReportDelivery> {
  const em = deps.orm.em.fork();
  const claimedAt = deps.clock.now();
  if (!(await claimReportSend(em, purchaseId, claimedAt))) {
    const p = await em.findOne(Purchase, { id: purchaseId });
    return p?.status === 'paid' ? 'already_sent' : 'not_paid';
  }
  try {
    const r = await sendReport(deps, purchaseId);
    deps.logger.info({ purchaseId, messageId: r.messageId, bytes: r.bytes }, 'audit report emailed');
    return 'sent';
  } catch (err) {
    await releaseReportSend(em, purchaseId, claimedAt);
    await recordOpsEvent(
      em,
      { type: 'report.failed', severity: 'warning', dedupKey: `report.failed:${purchaseId}:${claimedAt.toISOString()}`, payload: { purchaseId, error: (err as Error).message } },
      claimedAt,
    );
    throw err;
  }
}

/**
 * Runbook remediation: emails the report of a `paid` purchase again, whether or not it was sent before, and sets
 * `report_sent_at` to now. (The runbook engine owns confirmation and its own idempotency key.)
 * @throws AppError `not_found` (no purchase), `bad_request` (not paid, or no customer email); SendGrid errors.
 */
export async function resendReport(deps: StorefrontDeps, purchaseId: number): Promise<ReportSendResult> {
  const em = deps.orm.em.fork();
  const purchase = await em.findOne(Purchase, { id: purchaseId });
  if (!purchase) throw new AppError('not_found', `no purchase with id ${purchaseId}`);
  if (purchase.status !== 'paid') throw new AppError('bad_request', `purchase ${purchaseId} is ${purchase.status}, not paid: no report to resend`);
  const r = await sendReport(deps, purchaseId);
  await setReportSentAt(em, purchaseId, deps.clock.now());
  return r;
}
