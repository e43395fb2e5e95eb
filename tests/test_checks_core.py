"""The machinery every checker shares: how a pass, a stub, a wrong answer, a crash and a known mistake are reported."""

import torch
from checking import fails_with

from course_lib.checks import CheckCase, run_checks
from course_lib.checks.core import CheckFailed, Mistake, outcome

CASES = [CheckCase("x = [1, 2]", (torch.tensor([1.0, 2.0]),), torch.tensor([2.0, 4.0])),
         CheckCase("x = [[3]]", (torch.tensor([[3.0]]),), torch.tensor([[6.0]]), hint="keep the input's shape")]
HINT = "multiply by 2"


def double_check(fn, **options) -> None:
    run_checks("double", fn, CASES, hint=HINT, **options)


def test_a_pass_prints_one_line(capsys):
    double_check(lambda x: 2 * x)
    assert capsys.readouterr().out == "✔ double: all 2 checks passed\n"


def test_a_stub_is_one_line_that_says_where_to_write_it(capsys):
    def stub(x):
        raise NotImplementedError

    double_check(stub)  # prints, never raises: Run All carries on
    assert capsys.readouterr().out == "✘ double: not implemented yet — write it in the cell above\n"


def test_a_wrong_answer_names_the_input_the_expected_and_the_actual_value_and_a_hint():
    line = outcome(double_check, lambda x: 3 * x)
    assert line == ("✘ double failed on x = [1, 2]: expected tensor of shape (2,): [2.0, 4.0], got tensor of shape "
                    "(2,): [3.0, 6.0] (max difference 2). Hint: multiply by 2")


def test_a_case_hint_comes_before_the_general_hint():
    fails_with(double_check, lambda x: 2 * x.flatten(), r"failed on x = \[\[3\]\]: expected shape \(1, 1\), got shape "
                                                        r"\(1,\)\. Hint: keep the input's shape$")


def test_a_known_mistake_gives_its_own_hint():
    mistakes = [Mistake("you added instead of multiplying", lambda x: x + 2),
                Mistake("you squared the input", lambda x: x * x)]
    assert outcome(lambda fn: double_check(fn, mistakes=mistakes), lambda x: x**2).endswith(
        "Hint: you squared the input")
    # an output that matches no known mistake gets the general hint
    assert outcome(lambda fn: double_check(fn, mistakes=mistakes), lambda x: -x).endswith("Hint: multiply by 2")


def test_a_mistake_that_makes_nan_is_recognised_by_its_nans():
    mistakes = [Mistake("you divided by zero", lambda x: x / 0 * 0)]
    assert outcome(lambda fn: double_check(fn, mistakes=mistakes), lambda x: x * float("nan")).endswith(
        "Hint: you divided by zero")


def test_a_crash_is_a_failure_on_the_input_that_caused_it():
    def crashes_on_2d(x):
        return 2 * x.view(2)

    fails_with(double_check, crashes_on_2d, r"^double failed on x = \[\[3\]\]: it raised RuntimeError: shape .*"
                                            r"Hint: keep the input's shape$")


def test_a_learners_own_assert_is_a_crash_not_a_checker_message():
    def asserts(x):
        assert x.dim() == 2, "my own check"

    fails_with(double_check, asserts, r"^double failed on x = \[1, 2\]: it raised AssertionError: my own check")


def test_a_probe_speaks_for_itself_with_check_failed():
    def probe(fn, x):
        raise CheckFailed("the module has no weights", hint="build the layers in __init__")

    fails_with(lambda fn: double_check(fn, probe=probe), lambda x: x,
               r"^double failed on x = \[1, 2\]: the module has no weights\. Hint: build the layers in __init__$")


def test_a_probe_computes_what_is_compared_and_mistakes_go_through_it():
    mistakes = [Mistake("you tripled", lambda x: 3 * x)]
    line = outcome(lambda fn: double_check(fn, probe=lambda f, x: f(x) - x + x, mistakes=mistakes), lambda x: 3 * x)
    assert line.endswith("Hint: you tripled")


def test_returned_values_are_named_in_words():
    cases = [CheckCase("x = 1", (1.0,), (1.0, 2.0))]
    assert "the second of the 2 returned values: expected 2.0, got 3.0" in outcome(
        lambda fn: run_checks("pair", fn, cases, hint="h"), lambda x: (x, 3 * x))
    assert "the labels: expected 2.0, got 3.0" in outcome(
        lambda fn: run_checks("pair", fn, cases, hint="h", names=("the input", "the labels")), lambda x: (x, 3 * x))


def test_floats_compare_with_the_tolerance():
    cases = [CheckCase("x = 1/3", (1 / 3,), 1 / 3)]
    assert outcome(lambda fn: run_checks("third", fn, cases, hint="h"), lambda x: round(x, 7)).startswith("✔")
    assert outcome(lambda fn: run_checks("third", fn, cases, hint="h"), lambda x: 0.3).startswith("✘")


def test_integer_and_bool_results_keep_their_dtype():
    ids = [CheckCase("ids [1, 2]", (), torch.tensor([1, 2]))]
    assert "expected integers (torch.int64), got dtype torch.float32" in outcome(
        lambda fn: run_checks("ids", fn, ids, hint="h"), lambda: torch.tensor([1.0, 2.0]))
    assert outcome(lambda fn: run_checks("ids", fn, ids, hint="h"), lambda: torch.tensor([1, 2], dtype=torch.int32)
                   ).startswith("✔")
    mask = [CheckCase("a mask", (), torch.tensor([True, False]))]
    assert "expected a bool tensor (True/False), got dtype torch.int64" in outcome(
        lambda fn: run_checks("mask", fn, mask, hint="h"), lambda: torch.tensor([1, 0]))


def test_no_two_topic_modules_define_the_same_checker():
    # course_lib.checks lifts every check_* of every topic module: a second one of a name would silently replace
    # the first, and a notebook would be checked by another notebook's checker
    import importlib
    import pkgutil

    import course_lib.checks

    owners: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(course_lib.checks.__path__):
        module = importlib.import_module(f"course_lib.checks.{info.name}")
        for name, value in vars(module).items():
            if name.startswith("check_") and callable(value) and value.__module__ == module.__name__:
                owners.setdefault(name, []).append(info.name)
    assert not {name: where for name, where in owners.items() if len(where) > 1}


def test_a_list_of_tensors_is_shown_on_one_line():
    cases = [CheckCase("x = [1, 2]", (torch.tensor([1.0, 2.0]),), (torch.tensor([2.0, 4.0]), torch.tensor([1.0])))]
    line = outcome(lambda fn: run_checks("pair", fn, cases, hint="h"), lambda x: [2 * torch.eye(3), x])
    assert "\n" not in line and "expected a tuple of 2 values, got [tensor of shape (3, 3): [2.0, 0.0, 0.0" in line
