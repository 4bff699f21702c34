"""Networks: the lifter (encoder + decoder MLP); later the undistorter and the fuser."""
