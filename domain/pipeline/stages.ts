/**
 * The pipeline's stages, in order, as its progress signals name them (`{kind: 'progress', stage, n}`) and as
 * `leadfactory_pipeline_businesses_processed_total{stage}` and the status view count them.
 */
export const PIPELINE_STAGES = ['sourced', 'assessed', 'scored', 'personalized', 'emailed'] as const;

/** One of {@link PIPELINE_STAGES}. */
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

/** True when `stage` is one of {@link PIPELINE_STAGES}. */
export function isPipelineStage(stage: string): stage is PipelineStage {
  return (PIPELINE_STAGES as readonly string[]).includes(stage);
}
