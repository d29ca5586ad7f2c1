"""`solve` prompts the embedded task's model in the task's own format, whatever a person types."""

from __future__ import annotations

import pytest

from components.data.synthetic import generate, to_task_format
from components.inference.solve import solve, task_prompts
from components.model.tokenizer import is_task_tokenizer

README_EXAMPLE = "Compute (3 + 4) * 2."

TYPED = [
    (README_EXAMPLE, "Compute (3+4)*2."),
    ("What is 7*8?", "Compute 7*8."),
    ("what is 7 * 8", "Compute 7*8."),
    ("Compute 2+2?", "Compute 2+2."),
    ("(3+4)*2", "Compute (3+4)*2."),
    ("7 x 8 =", "Compute 7*8."),
    ("  Calculate:  12 / 4 - 1 = ?", "Compute 12/4-1."),
    ("3 times 4 plus 1", "Compute 3*4+1."),
    (r"Compute $3 \times 4$.", "Compute 3*4."),
    ("solve 3x + 5 = 20", "Solve for x: 3*x+5=20."),
    ("Solve for x: 3x+5=20", "Solve for x: 3*x+5=20."),
]
LEFT_ALONE = ["Compute 3 4.", "Prove that 2+2=4.", "How many primes are below 10?", "What is 8?", "1,000+1", ""]


@pytest.mark.parametrize("typed, task", TYPED)
def test_what_a_person_types_becomes_the_tasks_format(typed, task):
    assert to_task_format(typed) == task


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_other_text_is_left_alone(text):
    assert to_task_format(text) == text


def test_the_tasks_own_problems_are_fixed_points():
    problems = [p.problem for p in generate(3000, 5)] + [p.problem for p in generate(300, 5, split="heldout")]
    assert [to_task_format(p) for p in problems] == problems


@pytest.fixture(scope="module")
def rm(sft_tiny_dir):
    from components.model.reflective import ReflectiveModel

    return ReflectiveModel.load(sft_tiny_dir)


def test_the_prompt_for_the_readme_example_is_the_tasks_prompt(rm):
    assert is_task_tokenizer(rm.tokenizer)
    assert task_prompts(rm, [README_EXAMPLE, "What is 7*8?"]) == ["Compute (3+4)*2.", "Compute 7*8."]
    assert rm.encode_prompt(task_prompts(rm, [README_EXAMPLE])[0]) == rm.encode_prompt("Compute (3+4)*2.")


def test_other_models_read_the_text_as_written(tmp_path):
    from transformers import AutoTokenizer

    class Model:   # a ReflectiveModel's tokenizer is all `task_prompts` reads
        tokenizer = AutoTokenizer.from_pretrained(str(_gpt2_tokenizer_dir(tmp_path)))

    assert not is_task_tokenizer(Model.tokenizer)
    assert task_prompts(Model, [README_EXAMPLE]) == [README_EXAMPLE]


def _gpt2_tokenizer_dir(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    fast.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    fast.save_pretrained(str(tmp_path / "tok"))
    return tmp_path / "tok"


def test_solve_answers_the_readme_form_as_the_tasks_form(rm):
    # Same prompt, same seed: the same candidates bit for bit, so the same answer.
    spaced, task = (solve(rm, [p], "low", seed=3)[0] for p in (README_EXAMPLE, "Compute (3+4)*2."))
    assert spaced.problem == README_EXAMPLE
    assert [c.text for c in spaced.candidates] == [c.text for c in task.candidates]
    assert spaced.answer == task.answer and spaced.score == task.score


@pytest.mark.integration
def test_the_default_policy_answers_the_readme_example(bootstrapped_dir):
    # The README's `reflect solve --effort high "Compute (3 + 4) * 2."`: before the rewrite, the
    # spaced text was out of distribution (chosen answers 46, 40, 24 for seeds 0, 1, 2).
    from collections import Counter

    from components.model.reflective import ReflectiveModel
    from components.rewards.grading import final_answer

    rm = ReflectiveModel.load(bootstrapped_dir)
    for seed in (0, 1, 2):
        sol = solve(rm, [README_EXAMPLE], "high", seed=seed)[0]
        votes = Counter(final_answer(c.text) for c in sol.candidates)
        assert votes.most_common(1)[0][0] == "14", (seed, votes.most_common(3))
