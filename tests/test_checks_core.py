"""The machinery every checker shares: how a pass, a stub, a wrong answer and a crash are reported."""

import pytest
import torch

from course_lib.checks import CheckCase, run_checks

CASES = [CheckCase("x = [1, 2]", (torch.tensor([1.0, 2.0]),), torch.tensor([2.0, 4.0])),
         CheckCase("x = [[3]]", (torch.tensor([[3.0]]),), torch.tensor([[6.0]]))]


def test_a_pass_prints_one_line(capsys):
    run_checks("double", lambda x: 2 * x, CASES)
    assert capsys.readouterr().out == "✔ double: all 2 checks passed\n"


def test_a_stub_is_not_implemented_yet():
    def stub(x):
        raise NotImplementedError

    with pytest.raises(AssertionError, match=r"^double: not implemented yet"):
        run_checks("double", stub, CASES)


def test_a_wrong_answer_names_the_input_the_expected_and_the_actual_value():
    with pytest.raises(AssertionError, match=r"^double failed on x = \[1, 2\]: expected .*\[2\.0, 4\.0\].*got "
                                             r".*\[3\.0, 6\.0\].*max difference 2"):
        run_checks("double", lambda x: 3 * x, CASES)


def test_a_crash_is_a_failure_on_the_input_that_caused_it():
    def crashes_on_2d(x):
        return 2 * x.view(2)

    with pytest.raises(AssertionError, match=r"^double failed on x = \[\[3\]\]: it raised RuntimeError: shape "):
        run_checks("double", crashes_on_2d, CASES)


def test_an_assertion_from_inside_the_call_passes_through_unchanged():
    def asserts(x):
        raise AssertionError("a probe's own message")

    with pytest.raises(AssertionError, match=r"^a probe's own message$"):
        run_checks("double", asserts, CASES)
