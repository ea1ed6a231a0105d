export * from './types.ts';
export { RATINGS, isRating, type RatingInfo } from './ratings.ts';
export { STEP_POLICY, can, canResearch, allowedFrom, availableSteps, type StepPolicy, type FourEyesRule, type StepRequirement } from './policy.ts';
export { LIMITS, calendarDateProblem } from './validation.ts';
export { decide } from './decide.ts';
export { evolve, foldClaim, initialClaimState, toEnvelope, claimStreamId } from './evolve.ts';
export { toClaimView } from './view.ts';
