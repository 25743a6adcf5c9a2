"""Worker functions for the pool tests (importable, so forkserver workers can load them)."""
import os, time

def square(x): return x * x

def misbehave(x):
    "Sleep past any deadline on 'hang', raise on 'raise', kill the worker on 'exit', else echo."
    if x == 'hang': time.sleep(3600)
    if x == 'raise': raise RuntimeError('boom')
    if x == 'exit': os._exit(3)
    if x == 'unpicklable': return lambda: None
    return x

def pid_of_worker(_): return os.getpid()
