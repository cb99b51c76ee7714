"""jupyter_kernel_test's KernelTests against the gscript kernel: all 12 tests, none skipped.

Run by tests/kernel.rs with JUPYTER_PATH pointing at a freshly installed kernelspec (kernel name in
GSCRIPT_KERNEL_NAME). Exits non-zero when any test fails or is skipped.
"""
import os
import sys
import unittest

import jupyter_kernel_test


class GscriptKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = os.environ.get("GSCRIPT_KERNEL_NAME", "gscript")
    language_name = "gscript"
    file_extension = ".gscript"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'debug("to stderr")'
    completion_samples = [
        {"text": "simulate_at", "matches": {"simulate_atac"}},
        {"text": "let zebra_finch = 1; zebra_f", "matches": {"zebra_finch"}},
    ]
    complete_code_samples = ["1 + 1", "let x = [1, 2];", "fn f(a) { a * 2 }"]
    incomplete_code_samples = ["let x = [1, 2", "fn f(a) {", "if true {\n  print(1);"]
    invalid_code_samples = ["let = 3;", "1 + + * 2", "let x = 1 2"]
    code_page_something = 'help("simulate_atac")'
    code_generate_error = "undefined_function(1)"
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "1 + 41", "result": "42"},
        {"code": "[1, 2].len()", "result": "2"},
    ]
    code_display_data = [
        {"code": "show(plot_heatmap(matrix([[1.0, 2.0], [3.0, 4.0]])))", "mime": "image/png"},
        {"code": "show(plot_heatmap(matrix([[1.0, 2.0], [3.0, 4.0]])))", "mime": "image/svg+xml"},
        {"code": 'show("plain text")', "mime": "text/plain"},
    ]
    code_history_pattern = "1 + 4*"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "train_scbasset"
    code_clear_output = 'print("gone"); clear_output()'


class Result(unittest.TextTestResult):
    pass


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(GscriptKernelTests)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    print(f"ran {result.testsRun}, failures {len(result.failures)}, errors {len(result.errors)}, skipped {len(result.skipped)}")
    sys.exit(0 if result.wasSuccessful() and not result.skipped and result.testsRun == 12 else 1)
