"""Checks every real pretrained model must pass, shared by the SmolLM2 and Gemma tests: batched greedy generation
equals one-at-a-time, and the response-only loss masks exactly the prompt under the model's chat template."""

PROMPTS = [  # eight prompts of different lengths: batched, the short ones are padded
    'What is 2 + 3?',
    'Name a prime number larger than ten.',
    'Write one sentence about the sea.',
    'If a train travels 60 miles in 1.5 hours, what is its average speed in miles per hour? Explain briefly.',
    'List three colours.',
    'A rectangle has sides 4 and 7. What is its area, and what is its perimeter? Show the two computations.',
    'Say hello.',
    'Why is the sky blue? Answer in two short sentences for a ten-year-old who likes science.',
]


def check_batched_greedy_equals_one_at_a_time(model_and_tokenizer, max_new_tokens: int = 24):
    "Greedy tokens of the eight prompts in one padded batch equal those of each prompt alone."
    from ded_nb.generate import HFBackend, SamplingParams
    backend = HFBackend(model_and_tokenizer)
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    lengths = {len(backend.tokenizer(backend.prompt_text(p), add_special_tokens=False)['input_ids']) for p in PROMPTS}
    assert len(lengths) >= 6  # the batch really is padded
    batched = backend.generate_rows(PROMPTS, params, [0] * len(PROMPTS))
    alone = [backend.generate_rows([p], params, [0])[0] for p in PROMPTS]
    for p, b, a in zip(PROMPTS, batched, alone):
        assert b.token_ids == a.token_ids, f'{p!r}: batched {b.text!r} vs alone {a.text!r}'


def check_response_only_mask(model, tok, out_dir) -> tuple[list, str, str]:
    "The labels SFTTrainer trains with mask every prompt token of the chat template and no more, and train the whole answer."
    from trl import SFTConfig, SFTTrainer
    from ded_nb.sft import corpus_dataset
    from ded_nb.models import encode_chat
    question, answer = 'What is 12 + 7?', '<think>\n12 + 7 = 19.\n</think>\nThe answer is \\boxed{19}.'
    prompt_ids = tok.apply_chat_template([{'role': 'user', 'content': question}], add_generation_prompt=True,
                                         tokenize=True, return_dict=True)['input_ids']
    cfg = SFTConfig(output_dir=str(out_dir), max_length=512, completion_only_loss=True, report_to=[], use_cpu=True,
                    per_device_train_batch_size=1)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=corpus_dataset([(question, answer)], tok), processing_class=tok)
    row = trainer.train_dataset[0]
    labels = trainer.data_collator([row])['labels'][0].tolist()
    masked = sum(1 for label in labels if label == -100)
    assert masked == len(prompt_ids)  # every prompt token, no more and no fewer
    assert row['input_ids'][:masked] == prompt_ids
    trained = tok.decode([t for t in labels if t != -100])
    assert trained.startswith(answer)
    ours = encode_chat(tok, question, answer, max_len=512)  # what entropy and surprisal score: the same prompt tokens
    assert sum(1 for label in ours['labels'] if label == -100) == masked
    return prompt_ids, trained, answer
