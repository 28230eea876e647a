"""Scoring tools outside the product: the scene library and real footage against ground truth.

`scene_eval` plays the simulator's scenes through the detection core and scores its events;
`footage` scores the core's boxes on labelled footage. The hub never imports them.
"""
