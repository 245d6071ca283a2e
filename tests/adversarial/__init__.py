"""Adversarial inputs, fuzzing and fault injection (issue 7); every case made at test time."""
