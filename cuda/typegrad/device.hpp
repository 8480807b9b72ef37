#pragma once
// The Thrust/CUDA backend: device tensors, device programs, the fused optimizer update.
#include "typegrad/typegrad.hpp"
#include "typegrad/device/backend.hpp"
#include "typegrad/device/tensor.hpp"
#include "typegrad/device/program.hpp"
#include "typegrad/device/optimizer.hpp"
#include "typegrad/device/check_gradients.hpp"
