"""Curation throughput: grading teacher samples (rule-based math grader, 2 worker processes) and question compression
(student pass rates: k samples per question generated, then graded), on the default tiny world (built by `make
reproduce`; `--world micro` for seconds); plus the funnel's
filter + farthest-P steps on the graded samples. One run; rows/s and questions/s.

Run: `.venv/bin/python bench/bench_curation.py [--questions 64] [--k 4]`.
"""
import argparse, json, time
from ded_nb.models import load_model
from ded_nb.world import build_tiny_world, micro_zoo, default_zoo
from ded_nb.generate import SamplingParams
from ded_nb.curate import sample_trajectories, student_pass_rates, curation_arms
from ded_nb.codegrade import grade_mixed
from ded_nb.core import Response


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--questions', type=int, default=64); ap.add_argument('--k', type=int, default=4); ap.add_argument('--m', type=int, default=8)
    ap.add_argument('--world', default='default', choices=['default', 'micro'])
    args = ap.parse_args()
    world = build_tiny_world(default_zoo() if args.world == 'default' else micro_zoo(), progress=False)
    tok = load_model('tiny:student', world)[1]
    pool = world.problems['chain']['train'][:args.questions]
    params = SamplingParams(n=args.m, temperature=0.7, max_new_tokens=256)
    trajs = sample_trajectories('tiny:teacher-verbose', pool, params, tok, world, n_workers=2, progress=False)
    problems = {p.id: p for p in pool}
    responses = [Response(t.problem_id, t.text, t.sample_idx) for t in trajs]
    start = time.time(); grade_mixed(problems, responses, n_workers=2); grading = time.time() - start
    start = time.time(); rates = student_pass_rates('tiny:student', pool, SamplingParams(n=args.k, temperature=0.7, max_new_tokens=256), world, n_workers=2,
                                                  progress=False); compression = time.time() - start
    start = time.time(); arms = curation_arms(trajs, rates, 512, 0.5, 4, 'token', 'think', tok); funnel = time.time() - start
    print(json.dumps({'bench': 'curation', 'questions': len(pool), 'samples': len(trajs), 'grading_rows_per_s': round(len(trajs) / grading, 1),
                      'compression_questions_per_s': round(len(pool) / compression, 2), 'compression_k': args.k,
                      'funnel_seconds': round(funnel, 3), 'funnel': [s['samples'] for s in arms['right_hard_diverse'].steps]}))


if __name__ == '__main__':
    main()
